// Internal: the AVX-512 kernel variants' register types and hooks (reduce_loops.h), included by
// kernels_avx512.cc (built with -mavx512f/bw/vl/dq) and kernels_avx512_bf16.cc (the same plus
// -mavx512bf16, which switches the f32 -> bf16 narrowing to VCVTNEPS2BF16). Each includer is
// its own variant, selected at run time only on CPUs with its instructions; both produce the
// same bits as the portable variant.
// Thread: any.
#pragma once

#include <immintrin.h>

#include "reduce/reduce_kernels.h"
#include "reduce/reduce_loops.h"
#include "reduce/reduce_many.h"

namespace kolo::reduce_detail {
namespace {

// 512-bit registers with the operand order pinned (see orderedAdd); VEX/EVEX memory operands
// need no alignment, so the second operand may come straight from memory.
struct F32Vec {
  using Scalar = float;
  using Reg = __m512;
  static constexpr size_t kLanes = 16;
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
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
  static Reg min(Reg a, Reg b) { return _mm512_min_ps(b, a); }
  static Reg div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  static Reg splat(float f) { return _mm512_set1_ps(f); }
  static Reg max(Reg a, Reg b) { return _mm512_max_ps(b, a); }
};

struct F64Vec {
  using Scalar = double;
  using Reg = __m512d;
  static constexpr size_t kLanes = 8;
  static Reg load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, Reg v) { _mm512_storeu_pd(p, v); }
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
  static Reg min(Reg a, Reg b) { return _mm512_min_pd(b, a); }
  static Reg max(Reg a, Reg b) { return _mm512_max_pd(b, a); }
};

template <class T, class Op>
void floatReduce(T* dst, const T* a, const T* b, size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    orderedLoop<F32Vec, Op>(dst, a, b, n);
  } else {
    orderedLoop<F64Vec, Op>(dst, a, b, n);
  }
}

// Sixteen 16-bit floats <-> one __m512. bf16 -> f32 is a 16-bit shift; f32 -> bf16 rounds to
// nearest even in integer lanes and quiets NaNs exactly like floatToBfloat16Bits, or, where the
// file is built with -mavx512bf16, uses VCVTNEPS2BF16 for registers without subnormals.
struct Half16 {
  static constexpr size_t kLanes = 16;
  static __m512 widen(Float16Codec, const uint16_t* in) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in)));
  }
  static __m512 widen(BFloat16Codec, const uint16_t* in) {
    const __m512i wide =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
  static void narrow(Float16Codec, uint16_t* out, __m512 v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                        _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  static void narrow(BFloat16Codec, uint16_t* out, __m512 v) {
#if defined(__AVX512BF16__)
    // VCVTNEPS2BF16 rounds to nearest even and quiets NaNs exactly as floatToBfloat16Bits does,
    // but treats float32 subnormals as zero: a register holding one takes the integer path.
    if (_mm512_fpclass_ps_mask(v, kSubnormalClass) == 0) {
      const __m256bh narrowed = _mm512_cvtneps_pbh(v);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                          reinterpret_cast<const __m256i&>(narrowed));
      return;
    }
#endif
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __m512i quietNan = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
    const __mmask16 isNan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    const __m512i result = _mm512_mask_blend_epi32(isNan, rounded, quietNan);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_cvtepi32_epi16(result));
  }
#if defined(__AVX512BF16__)
  static constexpr int kSubnormalClass = 0x20;  // VFPCLASSPS category: denormal
#endif
};

template <class Codec>
void widenBlock(float* out, const uint16_t* in, size_t n) {
  widenVector<Half16, F32Vec, Codec>(out, in, n);
}

template <class Codec>
void narrowBlock(uint16_t* out, const float* in, size_t n) {
  narrowVector<Half16, F32Vec, Codec>(out, in, n);
}

template <class Codec>
void accumulateHalf(void* dst, const void* const* inputs, int nInputs, size_t n, int64_t divisor) {
  fusedAccumulateHalf<Half16, F32Vec, Codec>(dst, inputs, nInputs, n, divisor);
}

template <class Codec, class Op>
void reduceHalf(void* dst, const void* a, const void* b, size_t n) {
  fusedHalfLoop<Half16, F32Vec, Codec, Op>(dst, a, b, n);
}

}  // namespace
}  // namespace kolo::reduce_detail
