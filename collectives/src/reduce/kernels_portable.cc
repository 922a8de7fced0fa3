// The portable kernel variant: plain C++ that any target compiles (SSE2 on x86-64, NEON on
// AArch64 through the compiler's auto-vectorizer); f16/bf16 conversions are the scalar ones.
#include "reduce/reduce_kernels.h"
#include "reduce/reduce_loops.h"
#include "reduce/reduce_many.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace kolo::reduce_detail {
namespace {

#if defined(__x86_64__)
// SSE2 registers with the operand order pinned (see orderedAdd). Register operands only: a legacy
// SSE memory operand must be 16-byte aligned and the inputs need not be.
struct F32x4 {
  using Scalar = float;
  using Reg = __m128;
  static constexpr size_t kLanes = 4;
  static Reg load(const float* p) { return _mm_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm_storeu_ps(p, v); }
  static Reg add(Reg a, Reg b) {
    asm("addps %1, %0" : "+x"(a) : "x"(b));
    return a;
  }
  static Reg mul(Reg a, Reg b) {
    asm("mulps %1, %0" : "+x"(a) : "x"(b));
    return a;
  }
  static Reg min(Reg a, Reg b) { return _mm_min_ps(b, a); }
  static Reg max(Reg a, Reg b) { return _mm_max_ps(b, a); }
};

struct F64x2 {
  using Scalar = double;
  using Reg = __m128d;
  static constexpr size_t kLanes = 2;
  static Reg load(const double* p) { return _mm_loadu_pd(p); }
  static void store(double* p, Reg v) { _mm_storeu_pd(p, v); }
  static Reg add(Reg a, Reg b) {
    asm("addpd %1, %0" : "+x"(a) : "x"(b));
    return a;
  }
  static Reg mul(Reg a, Reg b) {
    asm("mulpd %1, %0" : "+x"(a) : "x"(b));
    return a;
  }
  static Reg min(Reg a, Reg b) { return _mm_min_pd(b, a); }
  static Reg max(Reg a, Reg b) { return _mm_max_pd(b, a); }
};

template <class T, class Op>
void floatReduce(T* dst, const T* a, const T* b, size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    orderedLoop<F32x4, Op>(dst, a, b, n);
  } else {
    orderedLoop<F64x2, Op>(dst, a, b, n);
  }
}
#else
// Other architectures have only this variant, so the compiler's vectorized loop is fine.
template <class T, class Op>
void floatReduce(T* dst, const T* a, const T* b, size_t n) {
  reduceNative<T, Op>(dst, a, b, n);
}
#endif

template <class Codec>
void widenBlock(float* out, const uint16_t* in, size_t n) {
  widenScalar<Codec>(out, in, n);
}

template <class Codec>
void narrowBlock(uint16_t* out, const float* in, size_t n) {
  narrowScalar<Codec>(out, in, n);
}

template <class Codec>
void accumulateHalf(void* dst, const void* const* inputs, int nInputs, size_t n, int64_t divisor) {
  accumulateHalfChunked<Codec>(dst, inputs, nInputs, n, divisor);
}

template <class Codec, class Op>
void reduceHalf(void* dst, const void* a, const void* b, size_t n) {
  reduceHalfChunked<Codec, Op>(dst, a, b, n);
}

}  // namespace

const ReduceKernels kPortableKernels{"portable", &reduceTwoImpl, &scaleImpl,     &divideImpl,
                                     &widenImpl, &narrowImpl,    &reduceManyImpl};

}  // namespace kolo::reduce_detail
