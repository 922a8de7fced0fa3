// The one C++ description of a tensor and of an op's options, shared by the public C++ API
// (kolo.hpp) and the runtime core (the Engine): the C ABI's kolo_tensor_t and
// kolo_op_options_t become these in adapters/c, and nothing converts them further.
// Self-contained (standard library and kolo/collectives/dtype.h only; tests/lint checks it),
// so kolo.hpp can include it without pulling in the runtime's internals.
// Thread: plain values.
#pragma once

#include <cstdint>
#include <vector>

#include "kolo/collectives/dtype.h"

namespace kolo {

inline constexpr int32_t kCpuDevice = -1;       // Tensor::device of host memory
inline constexpr int32_t kWorldProcessSet = 0;  // OpOptions::processSet of every rank

// A caller-owned tensor. `data` is the input; allreduce and broadcast write the result to
// `output` (which may equal `data`; null means in place). Allgather, alltoall and reducescatter
// write it there only when `outputBytes` says how large `output` is (host tensors; an allgather
// whose input is this rank's block of `output` runs in place); otherwise Kolo allocates their
// result, whose size only the negotiation knows. Both must stay valid until the handle
// completes.
struct Tensor {
  const void* data = nullptr;
  void* output = nullptr;
  DataType dtype = DataType::kFloat32;
  std::vector<int64_t> shape;
  int32_t device = kCpuDevice;  // kCpuDevice: host memory; N >= 0: CUDA device N
  // CUDA tensors: the cudaStream_t the caller produced `data` on (null: the legacy default
  // stream). Kolo's work waits for it, and it waits for Kolo's result.
  void* stream = nullptr;
  // Allgather, alltoall, reducescatter: the bytes at `output` (0: Kolo allocates the result). A
  // result of another size fails the op on this rank, naming both sizes.
  uint64_t outputBytes = 0;
};

struct OpOptions {
  ReduceOp reduceOp = ReduceOp::kSum;  // allreduce, reducescatter
  double prescale = 1.0;               // applied to the input before the reduction
  double postscale = 1.0;              // applied to the result
  int32_t rootRank = 0;                // broadcast: global rank of the source
  int32_t processSet = kWorldProcessSet;
  std::vector<int64_t> splits;  // alltoall: rows to each member of the set; empty: even split
};

}  // namespace kolo
