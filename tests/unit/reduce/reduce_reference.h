// Reference arithmetic for the reduce kernel tests, written independently of the kernels:
// 16-bit floats are decoded with ldexp and encoded by searching the sorted table of all finite
// values, so a shared bug in bit tricks cannot hide.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kolo/collectives/dtype.h"

namespace kolo::testing {

// Exact decoding; NaN patterns decode to a NaN (payload not modelled).
float refHalfToFloat(uint16_t h);
float refBfloat16ToFloat(uint16_t b);
// Nearest representable value, ties to the even encoding, overflow to inf; NaN -> some NaN.
uint16_t refFloatToHalf(float f);
uint16_t refFloatToBfloat16(float f);

bool isHalfNan(uint16_t h);
bool isBfloat16Nan(uint16_t b);

// dst = a OP b element-wise, elements stored as `type`; kAverage combines like kSum.
void refReduce(DataType type, ReduceOp op, void* dst, const void* a, const void* b, size_t count);

// True when the two elements are equal bit for bit, or both NaN for floating types.
bool sameElement(DataType type, const void* x, const void* y);

}  // namespace kolo::testing
