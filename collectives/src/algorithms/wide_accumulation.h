// 16-bit float sums across ranks, accumulated in float32 and rounded once per element.
//
// An allreduce of f16 / bf16 with kSum or kAverage (accumulatesInFloat32 in reduce.h) carries
// float32 partial sums between ranks and rounds to the 16-bit type once, after the last addition
// (and the kAverage division, done in f32): the result no longer degrades with the number of
// ranks. How each algorithm does it:
//   ring               reduce-scatter on f32 (twice the bytes of that phase), the owner of each
//                      segment rounds it, allgather of the 16-bit result (unchanged bytes);
//   recursive doubling the whole buffer in f32 (it serves small, latency-bound messages);
//   hierarchical       the whole buffer in f32 through the node, cross and gather phases;
//   shm arena          the owner of each sub-range accumulates all ranks' 16-bit inputs in f32
//                      in registers (reduceMany): no extra bytes at all.
// Thread: caller's.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/dtype.h"

namespace kolo::coll {

// `count` floats of this thread's scratch, kept between calls (a fresh allocation of that size
// would be zeroed and faulted in again on every collective); a nested lease gets its own.
class Float32Scratch {
 public:
  explicit Float32Scratch(size_t count);
  ~Float32Scratch();
  Float32Scratch(const Float32Scratch&) = delete;
  Float32Scratch& operator=(const Float32Scratch&) = delete;
  float* data() const { return data_; }

 private:
  std::vector<float> own_;
  float* data_ = nullptr;
  bool* lent_ = nullptr;
};

// Widens the 16-bit `buffer` into f32 scratch, runs `reduce` on it (an in-place f32 reduction
// with the same op), and rounds the result back into `buffer`.
Status runInFloat32(DataType type, void* buffer, size_t count,
                    const std::function<Status(float*)>& reduce);

}  // namespace kolo::coll
