// Float32 scratch and the widen / reduce / round wrapper of wide_accumulation.h.
#include "algorithms/wide_accumulation.h"

#include "kolo/collectives/reduce.h"

namespace kolo::coll {

Float32Scratch::Float32Scratch(size_t count) {
  static thread_local std::vector<float> pool;
  static thread_local bool lent = false;
  if (lent) {
    own_.resize(count);
    data_ = own_.data();
    return;
  }
  if (pool.size() < count) pool.resize(count);
  lent = true;
  lent_ = &lent;
  data_ = pool.data();
}

Float32Scratch::~Float32Scratch() {
  if (lent_ != nullptr) *lent_ = false;
}

Status runInFloat32(DataType type, void* buffer, size_t count,
                    const std::function<Status(float*)>& reduce) {
  Float32Scratch wide(count);
  widenToFloat32(type, buffer, wide.data(), count);
  KOLO_RETURN_IF_ERROR(reduce(wide.data()));
  narrowFromFloat32(type, wide.data(), buffer, count);
  return Status::ok();
}

}  // namespace kolo::coll
