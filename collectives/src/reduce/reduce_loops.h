// Internal: the element-wise loops shared by every kernel variant. Each variant's .cc file
// includes this header once, compiled with its own -m flags, so the same source becomes SSE2,
// AVX2 or AVX-512 code; everything here has internal linkage so the copies never merge.
//
// Integer loops are left to the auto-vectorizer. A variant defines four hooks for the rest:
//   floatReduce<T, Op>   f32/f64 combine, usually orderedLoop over its register type;
//   reduceHalf<Codec, Op> f16/bf16 combine, fusedHalfLoop or reduceHalfChunked;
//   widenBlock<Codec> / narrowBlock<Codec>  16-bit <-> f32 arrays (used by scale and divide).
//
// Bit-identical results across variants follow from doing the same IEEE operation per element
// in every variant: no reassociation, no FMA contraction (these files build with
// -ffp-contract=off), and f16/bf16 rounded to nearest even after each operation.
// Thread: any.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kolo/collectives/dtype.h"
#include "reduce/half_convert.h"

namespace kolo::reduce_detail {
namespace {

// ---- element operations -----------------------------------------------------------------------

// IEEE leaves open which NaN an arithmetic op returns when both operands are NaN; x86 returns
// the first source operand, but a compiler may swap the operands of a commutative + or *.
// These pin the order (a first) so every variant, and the scalar tail of each, agree bit for
// bit. Elsewhere they compile to plain arithmetic.
#if defined(__x86_64__)
#if defined(__AVX__)
#define KOLO_ORDERED_SCALAR_OP(insn, T, a, b)              \
  T r;                                                     \
  asm("v" insn " %2, %1, %0" : "=v"(r) : "v"(a), "vm"(b)); \
  return r
#else
#define KOLO_ORDERED_SCALAR_OP(insn, T, a, b) \
  asm(insn " %1, %0" : "+x"(a) : "xm"(b));    \
  return a
#endif
inline float orderedAdd(float a, float b) {
  KOLO_ORDERED_SCALAR_OP("addss", float, a, b);
}
inline double orderedAdd(double a, double b) {
  KOLO_ORDERED_SCALAR_OP("addsd", double, a, b);
}
inline float orderedMul(float a, float b) {
  KOLO_ORDERED_SCALAR_OP("mulss", float, a, b);
}
inline double orderedMul(double a, double b) {
  KOLO_ORDERED_SCALAR_OP("mulsd", double, a, b);
}
#undef KOLO_ORDERED_SCALAR_OP
#else
template <class T>
T orderedAdd(T a, T b) {
  return a + b;
}
template <class T>
T orderedMul(T a, T b) {
  return a * b;
}
#endif

// Integers wrap: do the arithmetic in the unsigned type of the same width (no signed overflow).
template <class T>
using Unsigned = std::make_unsigned_t<T>;

// Each op has a scalar form (apply) and a vector form over a variant's register type V
// (see orderedLoop).
struct SumOp {
  template <class T>
  static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(static_cast<Unsigned<T>>(a) + static_cast<Unsigned<T>>(b));
    } else {
      return orderedAdd(a, b);
    }
  }
  template <class V>
  static typename V::Reg vec(typename V::Reg a, typename V::Reg b) {
    return V::add(a, b);
  }
};

struct ProductOp {
  template <class T>
  static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(static_cast<Unsigned<T>>(a) * static_cast<Unsigned<T>>(b));
    } else {
      return orderedMul(a, b);
    }
  }
  template <class V>
  static typename V::Reg vec(typename V::Reg a, typename V::Reg b) {
    return V::mul(a, b);
  }
};

// std::min(a, b) and std::max(a, b) spelled out: a NaN in either operand yields `a`, and so
// does a tie (-0 vs +0). x86 MINPS/MAXPS with the operands swapped compute exactly this.
struct MinOp {
  template <class T>
  static T apply(T a, T b) {
    return b < a ? b : a;
  }
  template <class V>
  static typename V::Reg vec(typename V::Reg a, typename V::Reg b) {
    return V::min(a, b);
  }
};

struct MaxOp {
  template <class T>
  static T apply(T a, T b) {
    return a < b ? b : a;
  }
  template <class V>
  static typename V::Reg vec(typename V::Reg a, typename V::Reg b) {
    return V::max(a, b);
  }
};

// Explicit vector loop for f32/f64 over a variant's register type V (Scalar, Reg, kLanes, load,
// store, add, mul, min, max). Four independent registers per iteration hide the op latency when
// the data is in L1; each element is read before its slot is written, so dst may equal a or b.
template <class V, class Op>
void orderedLoop(typename V::Scalar* dst, const typename V::Scalar* a, const typename V::Scalar* b,
                 size_t n) {
  constexpr size_t kLanes = V::kLanes;
  size_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    const auto r0 = Op::template vec<V>(V::load(a + i), V::load(b + i));
    const auto r1 = Op::template vec<V>(V::load(a + i + kLanes), V::load(b + i + kLanes));
    const auto r2 = Op::template vec<V>(V::load(a + i + 2 * kLanes), V::load(b + i + 2 * kLanes));
    const auto r3 = Op::template vec<V>(V::load(a + i + 3 * kLanes), V::load(b + i + 3 * kLanes));
    V::store(dst + i, r0);
    V::store(dst + i + kLanes, r1);
    V::store(dst + i + 2 * kLanes, r2);
    V::store(dst + i + 3 * kLanes, r3);
  }
  for (; i + kLanes <= n; i += kLanes)
    V::store(dst + i, Op::template vec<V>(V::load(a + i), V::load(b + i)));
  for (; i < n; ++i) dst[i] = Op::apply(a[i], b[i]);
}

// Hook each variant defines: dst = a OP b for T = float or double.
template <class T, class Op>
void floatReduce(T* dst, const T* a, const T* b, size_t n);

// ---- storage codecs ---------------------------------------------------------------------------

struct Float16Codec {
  static float widen(uint16_t h) { return halfBitsToFloat(h); }
  static uint16_t narrow(float f) { return floatToHalfBits(f); }
};

struct BFloat16Codec {
  static float widen(uint16_t h) { return bfloat16BitsToFloat(h); }
  static uint16_t narrow(float f) { return floatToBfloat16Bits(f); }
};

template <class Codec>
void widenBlock(float* out, const uint16_t* in, size_t n);
template <class Codec>
void narrowBlock(uint16_t* out, const float* in, size_t n);

template <class Codec>
void widenScalar(float* out, const uint16_t* in, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = Codec::widen(in[i]);
}

template <class Codec>
void narrowScalar(uint16_t* out, const float* in, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = Codec::narrow(in[i]);
}

// ---- binary loops on native types -------------------------------------------------------------
// One loop per aliasing pattern, each with __restrict so the compiler vectorizes without a
// runtime overlap check (which would send dst == a, the common in-place case, to scalar code).

template <class T, class Op>
[[gnu::noinline]] void loopDistinct(T* __restrict dst, const T* __restrict a, const T* __restrict b,
                                    size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = Op::apply(a[i], b[i]);
}

template <class T, class Op>
[[gnu::noinline]] void loopIntoA(T* __restrict dst, const T* __restrict b, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = Op::apply(dst[i], b[i]);
}

template <class T, class Op>
[[gnu::noinline]] void loopIntoB(T* __restrict dst, const T* __restrict a, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = Op::apply(a[i], dst[i]);
}

template <class T, class Op>
[[gnu::noinline]] void loopSelf(T* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = Op::apply(dst[i], dst[i]);
}

template <class T, class Op>
void reduceNative(void* dstRaw, const void* aRaw, const void* bRaw, size_t n) {
  T* dst = static_cast<T*>(dstRaw);
  const T* a = static_cast<const T*>(aRaw);
  const T* b = static_cast<const T*>(bRaw);
  if (dst == a) {
    if (a == b) {
      loopSelf<T, Op>(dst, n);
    } else {
      loopIntoA<T, Op>(dst, b, n);
    }
  } else if (dst == b) {
    loopIntoB<T, Op>(dst, a, n);
  } else {
    loopDistinct<T, Op>(dst, a, b, n);  // a == b is fine: neither is written
  }
}

// ---- 16-bit floats ----------------------------------------------------------------------------
// Widen a chunk of each input into f32 scratch (L1-resident), combine with the f32 loop, narrow
// back. Chunk-at-a-time keeps dst == a / dst == b safe: a chunk is fully read before written.

inline constexpr size_t kHalfChunk = 512;

template <class Codec, class Op>
void reduceHalfChunked(void* dstRaw, const void* aRaw, const void* bRaw, size_t n) {
  auto* dst = static_cast<uint16_t*>(dstRaw);
  const auto* a = static_cast<const uint16_t*>(aRaw);
  const auto* b = static_cast<const uint16_t*>(bRaw);
  alignas(64) float wideA[kHalfChunk];
  alignas(64) float wideB[kHalfChunk];
  for (size_t done = 0; done < n;) {
    const size_t len = n - done < kHalfChunk ? n - done : kHalfChunk;
    widenBlock<Codec>(wideA, a + done, len);
    widenBlock<Codec>(wideB, b + done, len);
    floatReduce<float, Op>(wideA, wideA, wideB, len);
    narrowBlock<Codec>(dst + done, wideA, len);
    done += len;
  }
}

// Fused f16/bf16 loop for the vector variants: widen a register's worth of each input, combine,
// narrow, store; no scratch traffic. H supplies kLanes, widen(Codec{}, p) -> V::Reg and
// narrow(Codec{}, p, reg); V is the variant's f32 register type.
template <class H, class V, class Codec, class Op>
void fusedHalfLoop(void* dstRaw, const void* aRaw, const void* bRaw, size_t n) {
  auto* dst = static_cast<uint16_t*>(dstRaw);
  const auto* a = static_cast<const uint16_t*>(aRaw);
  const auto* b = static_cast<const uint16_t*>(bRaw);
  constexpr size_t kLanes = H::kLanes;
  size_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    const auto r0 = Op::template vec<V>(H::widen(Codec{}, a + i), H::widen(Codec{}, b + i));
    const auto r1 =
        Op::template vec<V>(H::widen(Codec{}, a + i + kLanes), H::widen(Codec{}, b + i + kLanes));
    H::narrow(Codec{}, dst + i, r0);
    H::narrow(Codec{}, dst + i + kLanes, r1);
  }
  for (; i + kLanes <= n; i += kLanes) {
    H::narrow(Codec{}, dst + i,
              Op::template vec<V>(H::widen(Codec{}, a + i), H::widen(Codec{}, b + i)));
  }
  for (; i < n; ++i) dst[i] = Codec::narrow(Op::apply(Codec::widen(a[i]), Codec::widen(b[i])));
}

template <class H, class V, class Codec>
void widenVector(float* out, const uint16_t* in, size_t n) {
  size_t i = 0;
  for (; i + H::kLanes <= n; i += H::kLanes) V::store(out + i, H::widen(Codec{}, in + i));
  widenScalar<Codec>(out + i, in + i, n - i);
}

template <class H, class V, class Codec>
void narrowVector(uint16_t* out, const float* in, size_t n) {
  size_t i = 0;
  for (; i + H::kLanes <= n; i += H::kLanes) H::narrow(Codec{}, out + i, V::load(in + i));
  narrowScalar<Codec>(out + i, in + i, n - i);
}

template <class Codec, class Op>
void reduceHalf(void* dst, const void* a, const void* b, size_t n);  // defined by the variant

// ---- dispatch ---------------------------------------------------------------------------------

template <class T, class Op>
void reduceNativeOrFloat(void* dst, const void* a, const void* b, size_t n) {
  if constexpr (std::is_floating_point_v<T>) {
    floatReduce<T, Op>(static_cast<T*>(dst), static_cast<const T*>(a), static_cast<const T*>(b), n);
  } else {
    reduceNative<T, Op>(dst, a, b, n);
  }
}

template <class T>
void reduceNativeOp(ReduceOp op, void* dst, const void* a, const void* b, size_t n) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAverage:
      return reduceNativeOrFloat<T, SumOp>(dst, a, b, n);
    case ReduceOp::kMin:
      return reduceNativeOrFloat<T, MinOp>(dst, a, b, n);
    case ReduceOp::kMax:
      return reduceNativeOrFloat<T, MaxOp>(dst, a, b, n);
    case ReduceOp::kProduct:
      return reduceNativeOrFloat<T, ProductOp>(dst, a, b, n);
    case ReduceOp::kAdasum:
      return;  // not elementwise: the collectives run it (algorithms/adasum.cc), never a kernel
  }
}

template <class Codec>
void reduceHalfOp(ReduceOp op, void* dst, const void* a, const void* b, size_t n) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAverage:
      return reduceHalf<Codec, SumOp>(dst, a, b, n);
    case ReduceOp::kMin:
      return reduceHalf<Codec, MinOp>(dst, a, b, n);
    case ReduceOp::kMax:
      return reduceHalf<Codec, MaxOp>(dst, a, b, n);
    case ReduceOp::kProduct:
      return reduceHalf<Codec, ProductOp>(dst, a, b, n);
    case ReduceOp::kAdasum:
      return;  // not elementwise (see reduceNativeOp)
  }
}

void reduceTwoImpl(DataType type, ReduceOp op, void* dst, const void* a, const void* b, size_t n) {
  switch (type) {
    case DataType::kFloat16:
      return reduceHalfOp<Float16Codec>(op, dst, a, b, n);
    case DataType::kBFloat16:
      return reduceHalfOp<BFloat16Codec>(op, dst, a, b, n);
    case DataType::kFloat32:
      return reduceNativeOp<float>(op, dst, a, b, n);
    case DataType::kFloat64:
      return reduceNativeOp<double>(op, dst, a, b, n);
    case DataType::kInt8:
      return reduceNativeOp<int8_t>(op, dst, a, b, n);
    case DataType::kUInt8:
      return reduceNativeOp<uint8_t>(op, dst, a, b, n);
    case DataType::kInt32:
      return reduceNativeOp<int32_t>(op, dst, a, b, n);
    case DataType::kInt64:
      return reduceNativeOp<int64_t>(op, dst, a, b, n);
    case DataType::kInt16:
      return reduceNativeOp<int16_t>(op, dst, a, b, n);
  }
}

// ---- scale and divide -------------------------------------------------------------------------

// Truncate toward zero, saturating at the type's range (NaN -> 0): a plain cast of an
// out-of-range double is undefined behaviour and differs between scalar and vector code.
template <class T>
T saturatingTruncate(double v) {
  constexpr double kAbove = static_cast<double>(std::numeric_limits<T>::max()) + 1.0;  // 2^k
  constexpr double kBelow = static_cast<double>(std::numeric_limits<T>::min()) - 1.0;
  if (v != v) return 0;
  if (v >= kAbove) return std::numeric_limits<T>::max();
  if (v <= kBelow) return std::numeric_limits<T>::min();
  return static_cast<T>(v);
}

template <class T>
void scaleNative(T* buf, size_t n, double factor) {
  if constexpr (std::is_same_v<T, double>) {
    for (size_t i = 0; i < n; ++i) buf[i] *= factor;
  } else if constexpr (std::is_same_v<T, float>) {
    const float f = static_cast<float>(factor);
    for (size_t i = 0; i < n; ++i) buf[i] *= f;
  } else {
    for (size_t i = 0; i < n; ++i)
      buf[i] = saturatingTruncate<T>(static_cast<double>(buf[i]) * factor);
  }
}

template <class T>
void divideNative(T* buf, size_t n, int64_t divisor) {
  if constexpr (std::is_floating_point_v<T>) {
    const T d = static_cast<T>(divisor);
    if (divisor > 0 && std::has_single_bit(static_cast<uint64_t>(divisor))) {
      // 1 / d is exact for a power of two, so x * (1 / d) is the same correctly rounded value
      // as x / d, at a fraction of a division's cost (an average over 2, 4, 8 ... ranks).
      const T reciprocal = T(1) / d;
      for (size_t i = 0; i < n; ++i) buf[i] *= reciprocal;
    } else {
      for (size_t i = 0; i < n; ++i) buf[i] /= d;
    }
  } else if (divisor == -1) {
    // The only quotient that can overflow (INT_MIN / -1); negation wraps.
    for (size_t i = 0; i < n; ++i)
      buf[i] = static_cast<T>(Unsigned<T>(0) - static_cast<Unsigned<T>>(buf[i]));
  } else if (divisor != 0) {
    for (size_t i = 0; i < n; ++i) buf[i] = static_cast<T>(static_cast<int64_t>(buf[i]) / divisor);
  }
}

template <class Codec, class Fn>
void mapHalf(uint16_t* buf, size_t n, Fn fn) {
  alignas(64) float wide[kHalfChunk];
  for (size_t done = 0; done < n;) {
    const size_t len = n - done < kHalfChunk ? n - done : kHalfChunk;
    widenBlock<Codec>(wide, buf + done, len);
    fn(wide, len);
    narrowBlock<Codec>(buf + done, wide, len);
    done += len;
  }
}

void scaleImpl(DataType type, void* buf, size_t n, double factor) {
  const float f = static_cast<float>(factor);
  auto scaleWide = [f](float* w, size_t len) {
    for (size_t i = 0; i < len; ++i) w[i] *= f;
  };
  switch (type) {
    case DataType::kFloat16:
      return mapHalf<Float16Codec>(static_cast<uint16_t*>(buf), n, scaleWide);
    case DataType::kBFloat16:
      return mapHalf<BFloat16Codec>(static_cast<uint16_t*>(buf), n, scaleWide);
    case DataType::kFloat32:
      return scaleNative(static_cast<float*>(buf), n, factor);
    case DataType::kFloat64:
      return scaleNative(static_cast<double*>(buf), n, factor);
    case DataType::kInt8:
      return scaleNative(static_cast<int8_t*>(buf), n, factor);
    case DataType::kUInt8:
      return scaleNative(static_cast<uint8_t*>(buf), n, factor);
    case DataType::kInt32:
      return scaleNative(static_cast<int32_t*>(buf), n, factor);
    case DataType::kInt64:
      return scaleNative(static_cast<int64_t*>(buf), n, factor);
    case DataType::kInt16:
      return scaleNative(static_cast<int16_t*>(buf), n, factor);
  }
}

void divideImpl(DataType type, void* buf, size_t n, int64_t divisor) {
  const float d = static_cast<float>(divisor);
  auto divideWide = [d](float* w, size_t len) {
    for (size_t i = 0; i < len; ++i) w[i] /= d;
  };
  switch (type) {
    case DataType::kFloat16:
      return mapHalf<Float16Codec>(static_cast<uint16_t*>(buf), n, divideWide);
    case DataType::kBFloat16:
      return mapHalf<BFloat16Codec>(static_cast<uint16_t*>(buf), n, divideWide);
    case DataType::kFloat32:
      return divideNative(static_cast<float*>(buf), n, divisor);
    case DataType::kFloat64:
      return divideNative(static_cast<double*>(buf), n, divisor);
    case DataType::kInt8:
      return divideNative(static_cast<int8_t*>(buf), n, divisor);
    case DataType::kUInt8:
      return divideNative(static_cast<uint8_t*>(buf), n, divisor);
    case DataType::kInt32:
      return divideNative(static_cast<int32_t*>(buf), n, divisor);
    case DataType::kInt64:
      return divideNative(static_cast<int64_t*>(buf), n, divisor);
    case DataType::kInt16:
      return divideNative(static_cast<int16_t*>(buf), n, divisor);
  }
}

}  // namespace
}  // namespace kolo::reduce_detail
