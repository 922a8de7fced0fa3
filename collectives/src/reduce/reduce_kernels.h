// Internal: the table of kernels one CPU variant provides, and the list of variants compiled in.
// The public entry points (reduce.h) pick one table once per process; tests run every table on
// the same inputs to prove the variants are bit-identical.
// Thread: any; the tables are immutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kolo/collectives/dtype.h"

namespace kolo::reduce_detail {

struct ReduceKernels {
  const char* name;  // "portable", "avx2+f16c", "avx512", "avx512+bf16"
  // dst[i] = a[i] OP b[i]; dst may equal a and/or b (no partial overlap). kAverage acts as kSum.
  void (*reduceTwo)(DataType type, ReduceOp op, void* dst, const void* a, const void* b,
                    size_t count);
  void (*scaleBuffer)(DataType type, void* buf, size_t count, double factor);
  void (*divideBuffer)(DataType type, void* buf, size_t count, int64_t divisor);
  // 16-bit float <-> f32 arrays (widenToFloat32 / narrowFromFloat32 in reduce.h).
  void (*widen)(DataType type, const void* in, float* out, size_t count);
  void (*narrow)(DataType type, const float* in, void* out, size_t count);
  // dst = inputs[0] OP ... OP inputs[nInputs-1] (reduceMany in reduce.h).
  void (*reduceMany)(DataType type, ReduceOp op, void* dst, const void* const* inputs, int nInputs,
                     size_t count, int64_t divisor);
};

// Defined by each variant's translation unit; the x86 ones are built only for x86-64
// (KOLO_REDUCE_X86_VARIANTS).
extern const ReduceKernels kPortableKernels;
extern const ReduceKernels kAvx2Kernels;
extern const ReduceKernels kAvx512Kernels;
extern const ReduceKernels kAvx512Bf16Kernels;

// Every variant compiled in that this CPU can execute, the portable one first.
std::vector<const ReduceKernels*> supportedReduceKernels();

// The variant the public functions use: the widest supported one, chosen on first use.
const ReduceKernels& activeReduceKernels();

}  // namespace kolo::reduce_detail
