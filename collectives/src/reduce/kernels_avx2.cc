// The AVX2 + F16C kernel variant (x86-64 only; built with -mavx2 -mf16c and selected at run time
// only on CPUs that have both). Integers rely on the auto-vectorizer over reduce_loops.h;
// f32/f64 and f16/bf16 use the explicit 256-bit loops below.
#include <immintrin.h>

#include "reduce/reduce_kernels.h"
#include "reduce/reduce_loops.h"
#include "reduce/reduce_many.h"

namespace kolo::reduce_detail {
namespace {

// 256-bit registers with the operand order pinned (see orderedAdd); VEX/EVEX memory operands
// need no alignment, so the second operand may come straight from memory.
struct F32Vec {
  using Scalar = float;
  using Reg = __m256;
  static constexpr size_t kLanes = 8;
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static Reg add(Reg a, Reg b) {
    Reg r;
    asm("vaddps %2, %1, %0" : "=v"(r) : "v"(a), "vm"(b));
    return r;
  }
  static Reg mul(Reg a, Reg b) {
    Reg r;
    asm("vmulps %2, %1, %0" : "=v"(r) : "v"(a), "vm"(b));
    return r;
  }
  static Reg min(Reg a, Reg b) { return _mm256_min_ps(b, a); }
  static Reg div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  static Reg splat(float f) { return _mm256_set1_ps(f); }
  static Reg max(Reg a, Reg b) { return _mm256_max_ps(b, a); }
};

struct F64Vec {
  using Scalar = double;
  using Reg = __m256d;
  static constexpr size_t kLanes = 4;
  static Reg load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, Reg v) { _mm256_storeu_pd(p, v); }
  static Reg add(Reg a, Reg b) {
    Reg r;
    asm("vaddpd %2, %1, %0" : "=v"(r) : "v"(a), "vm"(b));
    return r;
  }
  static Reg mul(Reg a, Reg b) {
    Reg r;
    asm("vmulpd %2, %1, %0" : "=v"(r) : "v"(a), "vm"(b));
    return r;
  }
  static Reg min(Reg a, Reg b) { return _mm256_min_pd(b, a); }
  static Reg max(Reg a, Reg b) { return _mm256_max_pd(b, a); }
};

template <class T, class Op>
void floatReduce(T* dst, const T* a, const T* b, size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    orderedLoop<F32Vec, Op>(dst, a, b, n);
  } else {
    orderedLoop<F64Vec, Op>(dst, a, b, n);
  }
}

// bf16 -> f32 is a 16-bit shift; f32 -> bf16 rounds to nearest even in integer lanes and quiets
// NaNs exactly like floatToBfloat16Bits (VCVTNEPS2BF16 would flush subnormals, so it is not used).
__m256 widenBf16(__m128i h) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// Rounds each f32 lane to bf16, result in the low 16 bits of the 32-bit lane.
__m256i roundToBf16Lanes(__m256 f) {
  const __m256i bits = _mm256_castps_si256(f);
  const __m256i high = _mm256_srli_epi32(bits, 16);
  const __m256i bias =
      _mm256_add_epi32(_mm256_and_si256(high, _mm256_set1_epi32(1)), _mm256_set1_epi32(0x7fff));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, bias), 16);
  const __m256i quietNan = _mm256_or_si256(high, _mm256_set1_epi32(0x40));
  const __m256i isNan = _mm256_castps_si256(_mm256_cmp_ps(f, f, _CMP_UNORD_Q));
  return _mm256_blendv_epi8(rounded, quietNan, isNan);
}

__m128i narrowBf16(__m256 f) {
  // Lanes hold values < 2^16, so the unsigned-saturating pack keeps them; it packs per 128-bit
  // half, and the permute gathers the two useful quarters.
  const __m256i packed = _mm256_packus_epi32(roundToBf16Lanes(f), _mm256_setzero_si256());
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(packed, 0x08));
}

// bf16 reduce, sixteen elements per step. Interleaving with zero widens within each 128-bit
// half (elements 0-3,8-11 and 4-7,12-15), and packing the two results restores the original
// order, so no lane-crossing shuffle is needed.
template <class Op>
void reduceBf16(uint16_t* dst, const uint16_t* a, const uint16_t* b, size_t n) {
  const __m256i zero = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    const __m256 lo =
        Op::template vec<F32Vec>(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, va)),
                                 _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, vb)));
    const __m256 hi =
        Op::template vec<F32Vec>(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, va)),
                                 _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, vb)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                        _mm256_packus_epi32(roundToBf16Lanes(lo), roundToBf16Lanes(hi)));
  }
  for (; i < n; ++i) {
    dst[i] =
        BFloat16Codec::narrow(Op::apply(BFloat16Codec::widen(a[i]), BFloat16Codec::widen(b[i])));
  }
}

// Eight 16-bit floats <-> one __m256.
struct Half8 {
  static constexpr size_t kLanes = 8;
  static __m256 widen(Float16Codec, const uint16_t* in) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in)));
  }
  static __m256 widen(BFloat16Codec, const uint16_t* in) {
    return widenBf16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in)));
  }
  static void narrow(Float16Codec, uint16_t* out, __m256 v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                     _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  static void narrow(BFloat16Codec, uint16_t* out, __m256 v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), narrowBf16(v));
  }
};

template <class Codec>
void widenBlock(float* out, const uint16_t* in, size_t n) {
  widenVector<Half8, F32Vec, Codec>(out, in, n);
}

template <class Codec>
void narrowBlock(uint16_t* out, const float* in, size_t n) {
  narrowVector<Half8, F32Vec, Codec>(out, in, n);
}

template <class Codec>
void accumulateHalf(void* dst, const void* const* inputs, int nInputs, size_t n, int64_t divisor) {
  fusedAccumulateHalf<Half8, F32Vec, Codec>(dst, inputs, nInputs, n, divisor);
}

template <class Codec, class Op>
void reduceHalf(void* dst, const void* a, const void* b, size_t n) {
  if constexpr (std::is_same_v<Codec, BFloat16Codec>) {
    reduceBf16<Op>(static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(a),
                   static_cast<const uint16_t*>(b), n);
  } else {
    fusedHalfLoop<Half8, F32Vec, Codec, Op>(dst, a, b, n);
  }
}

}  // namespace

const ReduceKernels kAvx2Kernels{"avx2+f16c", &reduceTwoImpl, &scaleImpl,     &divideImpl,
                                 &widenImpl,  &narrowImpl,    &reduceManyImpl};

}  // namespace kolo::reduce_detail
