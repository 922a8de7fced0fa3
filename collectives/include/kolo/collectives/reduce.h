// Reduction kernels, one per (op x dtype), vectorized where the CPU allows.
// f16 and bf16 are widened to f32, combined, and rounded to nearest-even after
// every step, so a reduction of n inputs rounds exactly n-1 times.
// Integer arithmetic wraps (two's complement); min/max of NaN follow the C++ std::min/max
// of the operands in order (the result is bit-identical on every rank).
// Thread: any; pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kolo/collectives/dtype.h"

namespace kolo {

// dst[i] = dst[i] OP src[i] for i < count. kAverage combines like kSum (divide afterwards with
// scaleBuffer). dst and src must not overlap partially (identical is allowed).
void reduceInto(DataType type, ReduceOp op, void* dst, const void* src, size_t count);

// dst[i] = a[i] OP b[i]. dst may equal a or b.
void reduceTwo(DataType type, ReduceOp op, void* dst, const void* a, const void* b, size_t count);

// buf[i] = buf[i] * factor (floats: computed in double for f64, float otherwise, then rounded;
// integers: multiplied in double, truncated toward zero and clamped to the type's range; a NaN
// product becomes 0).
void scaleBuffer(DataType type, void* buf, size_t count, double factor);

// buf[i] = buf[i] / divisor, exact integer division for integer types; for floats x / divisor.
// Used by kAverage so that average == sum / n on every path. A zero divisor leaves integer
// buffers unchanged (floats follow IEEE: inf or NaN).
void divideBuffer(DataType type, void* buf, size_t count, int64_t divisor);

// Scalar conversions used by kernels, tests and references.
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);  // round to nearest even, handles inf/nan/subnormals
float bfloat16ToFloat(uint16_t b);
uint16_t floatToBfloat16(float f);  // round to nearest even, NaN stays NaN

// Which kernel variant the dispatcher uses on this CPU ("avx512", "avx2+f16c", "portable").
const char* reduceKernelVariant();

}  // namespace kolo
