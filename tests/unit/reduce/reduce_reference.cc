#include "reduce_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace kolo::testing {
namespace {

// All non-negative finite values of a 16-bit format with `mantissaBits`, ascending.
struct Table {
  std::vector<float> values;
  std::vector<uint16_t> codes;
};

Table buildTable(float (*decode)(uint16_t), uint16_t firstInfinity) {
  Table t;
  for (uint32_t code = 0; code < firstInfinity; ++code) {
    t.values.push_back(decode(static_cast<uint16_t>(code)));
    t.codes.push_back(static_cast<uint16_t>(code));
  }
  return t;
}

uint16_t encodeNearest(const Table& t, uint16_t infinity, uint16_t nan, float f) {
  if (std::isnan(f)) return nan;
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double mag = std::fabs(static_cast<double>(f));
  // Overflow: beyond the largest finite value plus half an ulp of it, round to infinity.
  const double largest = t.values.back();
  const double ulp = largest - t.values[t.values.size() - 2];
  if (mag >= largest + ulp / 2) return static_cast<uint16_t>(sign | infinity);
  auto it = std::lower_bound(t.values.begin(), t.values.end(), mag);
  const size_t hi = static_cast<size_t>(it - t.values.begin());
  if (hi == t.values.size())
    return static_cast<uint16_t>(sign | t.codes.back());  // below the overflow midpoint
  if (t.values[hi] == mag || hi == 0) return static_cast<uint16_t>(sign | t.codes[hi]);
  const size_t lo = hi - 1;
  const double dLo = mag - t.values[lo];
  const double dHi = t.values[hi] - mag;
  size_t pick = dLo < dHi ? lo : hi;
  if (dLo == dHi) pick = (t.codes[lo] & 1) == 0 ? lo : hi;
  return static_cast<uint16_t>(sign | t.codes[pick]);
}

const Table& halfTable() {
  static const Table t = buildTable(&refHalfToFloat, 0x7c00);
  return t;
}
const Table& bfloat16Table() {
  static const Table t = buildTable(&refBfloat16ToFloat, 0x7f80);
  return t;
}

template <class T>
T refOp(ReduceOp op, T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    // Two's complement wraparound: compute modulo 2^64, keep the low bits.
    const uint64_t ua = static_cast<uint64_t>(a);
    const uint64_t ub = static_cast<uint64_t>(b);
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kAverage:
        return static_cast<T>(ua + ub);
      case ReduceOp::kProduct:
        return static_cast<T>(ua * ub);
      case ReduceOp::kMin:
        return std::min(a, b);
      case ReduceOp::kMax:
        return std::max(a, b);
      case ReduceOp::kAdasum:
        break;  // not elementwise
    }
  } else {
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kAverage:
        return a + b;
      case ReduceOp::kProduct:
        return a * b;
      case ReduceOp::kMin:
        return std::min(a, b);
      case ReduceOp::kMax:
        return std::max(a, b);
      case ReduceOp::kAdasum:
        break;  // not elementwise
    }
  }
  return T{};
}

template <class T>
void refReduceNative(ReduceOp op, void* dst, const void* a, const void* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    T x, y;
    std::memcpy(&x, static_cast<const char*>(a) + i * sizeof(T), sizeof(T));
    std::memcpy(&y, static_cast<const char*>(b) + i * sizeof(T), sizeof(T));
    const T r = refOp<T>(op, x, y);
    std::memcpy(static_cast<char*>(dst) + i * sizeof(T), &r, sizeof(T));
  }
}

void refReduceHalf(bool bf16, ReduceOp op, void* dst, const void* a, const void* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint16_t x, y;
    std::memcpy(&x, static_cast<const char*>(a) + i * 2, 2);
    std::memcpy(&y, static_cast<const char*>(b) + i * 2, 2);
    const float fx = bf16 ? refBfloat16ToFloat(x) : refHalfToFloat(x);
    const float fy = bf16 ? refBfloat16ToFloat(y) : refHalfToFloat(y);
    const float r = refOp<float>(op, fx, fy);
    const uint16_t code = bf16 ? refFloatToBfloat16(r) : refFloatToHalf(r);
    std::memcpy(static_cast<char*>(dst) + i * 2, &code, 2);
  }
}

}  // namespace

float refHalfToFloat(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  const float sign = (h & 0x8000) != 0 ? -1.0f : 1.0f;
  if (exponent == 0x1f) {
    return mantissa == 0 ? sign * std::numeric_limits<float>::infinity()
                         : std::numeric_limits<float>::quiet_NaN();
  }
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -24);
  return sign * std::ldexp(static_cast<float>(1024 + mantissa), exponent - 25);
}

float refBfloat16ToFloat(uint16_t b) {
  const int exponent = (b >> 7) & 0xff;
  const int mantissa = b & 0x7f;
  const float sign = (b & 0x8000) != 0 ? -1.0f : 1.0f;
  if (exponent == 0xff) {
    return mantissa == 0 ? sign * std::numeric_limits<float>::infinity()
                         : std::numeric_limits<float>::quiet_NaN();
  }
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -133);
  return sign * std::ldexp(static_cast<float>(128 + mantissa), exponent - 134);
}

uint16_t refFloatToHalf(float f) {
  return encodeNearest(halfTable(), 0x7c00, 0x7e00, f);
}
uint16_t refFloatToBfloat16(float f) {
  return encodeNearest(bfloat16Table(), 0x7f80, 0x7fc0, f);
}

bool isHalfNan(uint16_t h) {
  return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
}
bool isBfloat16Nan(uint16_t b) {
  return (b & 0x7f80) == 0x7f80 && (b & 0x7f) != 0;
}

void refReduce(DataType type, ReduceOp op, void* dst, const void* a, const void* b, size_t n) {
  switch (type) {
    case DataType::kFloat16:
      return refReduceHalf(false, op, dst, a, b, n);
    case DataType::kBFloat16:
      return refReduceHalf(true, op, dst, a, b, n);
    case DataType::kFloat32:
      return refReduceNative<float>(op, dst, a, b, n);
    case DataType::kFloat64:
      return refReduceNative<double>(op, dst, a, b, n);
    case DataType::kInt8:
      return refReduceNative<int8_t>(op, dst, a, b, n);
    case DataType::kUInt8:
      return refReduceNative<uint8_t>(op, dst, a, b, n);
    case DataType::kInt32:
      return refReduceNative<int32_t>(op, dst, a, b, n);
    case DataType::kInt64:
      return refReduceNative<int64_t>(op, dst, a, b, n);
    case DataType::kInt16:
      return refReduceNative<int16_t>(op, dst, a, b, n);
  }
}

bool sameElement(DataType type, const void* x, const void* y) {
  const size_t size = dataTypeSize(type);
  if (std::memcmp(x, y, size) == 0) return true;
  switch (type) {
    case DataType::kFloat16:
    case DataType::kBFloat16: {
      uint16_t hx, hy;
      std::memcpy(&hx, x, 2);
      std::memcpy(&hy, y, 2);
      return type == DataType::kFloat16 ? isHalfNan(hx) && isHalfNan(hy)
                                        : isBfloat16Nan(hx) && isBfloat16Nan(hy);
    }
    case DataType::kFloat32: {
      float fx, fy;
      std::memcpy(&fx, x, 4);
      std::memcpy(&fy, y, 4);
      return std::isnan(fx) && std::isnan(fy);
    }
    case DataType::kFloat64: {
      double dx, dy;
      std::memcpy(&dx, x, 8);
      std::memcpy(&dy, y, 8);
      return std::isnan(dx) && std::isnan(dy);
    }
    default:
      return false;
  }
}

}  // namespace kolo::testing
