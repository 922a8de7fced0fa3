// Reduction kernels, one per (op x dtype), vectorized where the CPU allows.
// Pairwise (reduceInto, reduceTwo): f16 and bf16 are widened to f32, combined, and rounded to
// nearest-even after every step. Many inputs at once (reduceMany): f16 and bf16 sums accumulate
// in f32 and round once per element; the collectives use it, or carry f32 partial sums between
// ranks (widenToFloat32 / narrowFromFloat32), so that an allreduce rounds once per element.
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

// The 16-bit float reductions that the collectives accumulate in float32 and round once per
// element: f16 and bf16 with kSum or kAverage (min and max are exact; product and adasum keep
// their own rounding).
constexpr bool accumulatesInFloat32(DataType type, ReduceOp op) {
  return (type == DataType::kFloat16 || type == DataType::kBFloat16) &&
         (op == ReduceOp::kSum || op == ReduceOp::kAverage);
}

// out[i] = in[i] as float32 (exact). `type` is kFloat16 or kBFloat16; other types are a no-op.
void widenToFloat32(DataType type, const void* in, float* out, size_t count);
// out[i] = in[i] rounded to nearest even (as floatToHalf / floatToBfloat16). Same types.
void narrowFromFloat32(DataType type, const float* in, void* out, size_t count);

// dst[i] = inputs[0][i] OP inputs[1][i] OP ... OP inputs[nInputs-1][i], left to right; then, when
// divisor != 0, dst[i] / divisor (as divideBuffer). When accumulatesInFloat32(type, op) the sum and
// the quotient are computed in f32 and rounded to the 16-bit type once; otherwise the inputs are
// combined pairwise as by reduceTwo. dst may equal inputs[0]; it must not overlap another input.
void reduceMany(DataType type, ReduceOp op, void* dst, const void* const* inputs, int nInputs,
                size_t count, int64_t divisor);

// Scalar conversions used by kernels, tests and references.
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);  // round to nearest even, handles inf/nan/subnormals
float bfloat16ToFloat(uint16_t b);
uint16_t floatToBfloat16(float f);  // round to nearest even, NaN stays NaN

// Which kernel variant the dispatcher uses on this CPU ("avx512+bf16", "avx512", "avx2+f16c",
// "portable").
const char* reduceKernelVariant();

}  // namespace kolo
