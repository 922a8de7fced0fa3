#include "pending_op.h"

namespace kolo::core {

std::byte* PendingOp::placeResult(size_t bytes) {
  OpResult& r = result();
  if (tensor.outputBytes != 0 && tensor.outputBytes == bytes && tensor.output != nullptr) {
    r.placed = static_cast<std::byte*>(tensor.output);
    r.placedBytes = bytes;
    return r.placed;
  }
  if (tensor.outputBytes != 0) {
    outputError = makeStatus(Code::kInvalidArgument,
                             "{} '{}': the result is {} bytes but the output given holds {}",
                             opTypeName(request.op), request.tensorName, bytes, tensor.outputBytes);
  }
  r.data.resize(bytes);
  return r.data.data();
}

}  // namespace kolo::core
