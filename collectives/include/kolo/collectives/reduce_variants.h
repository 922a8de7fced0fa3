// The CPU variants of the reduction kernels compiled into this build, for benchmarks that
// compare them on the same inputs (bench/micro). Production code calls reduce.h, which picks
// the widest variant this CPU runs, once per process.
// Thread: any; the variants are immutable.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "kolo/collectives/dtype.h"

namespace kolo {

struct ReduceVariant {
  std::string_view name;  // "portable", "avx2+f16c", "avx512", "avx512+bf16"
  // dst[i] = a[i] OP b[i]; dst may equal a and/or b (no partial overlap). kAverage acts as kSum.
  void (*reduceTwo)(DataType type, ReduceOp op, void* dst, const void* a, const void* b,
                    size_t count);
  // buf[i] *= factor.
  void (*scaleBuffer)(DataType type, void* buf, size_t count, double factor);
  // reduceMany (reduce.h) in this variant.
  void (*reduceMany)(DataType type, ReduceOp op, void* dst, const void* const* inputs, int nInputs,
                     size_t count, int64_t divisor);
};

// Every variant compiled in that this CPU can execute, the portable one first.
std::vector<ReduceVariant> supportedReduceVariants();

}  // namespace kolo
