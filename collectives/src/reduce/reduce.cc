// Public reduction entry points: pick the widest kernel variant this CPU supports, once. Each
// call is one ScopedPhase of kReduce (kolo/collectives/phase_clock.h): the phase clock counts
// every reduction the algorithms run, a chunk or buffer per call.
#include "kolo/collectives/reduce.h"

#include "kolo/collectives/phase_clock.h"
#include "reduce/half_convert.h"
#include "reduce/reduce_kernels.h"

#if defined(KOLO_REDUCE_X86_VARIANTS)
#include <cpuid.h>
#endif

namespace kolo {
namespace reduce_detail {

std::vector<const ReduceKernels*> supportedReduceKernels() {
  std::vector<const ReduceKernels*> kernels;
  kernels.reserve(4);
  kernels.push_back(&kPortableKernels);
#if defined(KOLO_REDUCE_X86_VARIANTS)
  // __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 register state.
  // F16C is read from CPUID directly: not every compiler knows it as a feature name.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
  if (__builtin_cpu_supports("avx2") && f16c) {
    kernels.push_back(&kAvx2Kernels);
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
      kernels.push_back(&kAvx512Kernels);
      if (__builtin_cpu_supports("avx512bf16")) kernels.push_back(&kAvx512Bf16Kernels);
    }
  }
#endif
  return kernels;
}

const ReduceKernels& activeReduceKernels() {
  // Function-local static: thread-safe one-time selection; afterwards a plain load.
  static const ReduceKernels* const active = supportedReduceKernels().back();
  return *active;
}

}  // namespace reduce_detail

void reduceInto(DataType type, ReduceOp op, void* dst, const void* src, size_t count) {
  ScopedPhase phase(Phase::kReduce);
  reduce_detail::activeReduceKernels().reduceTwo(type, op, dst, dst, src, count);
}

void reduceTwo(DataType type, ReduceOp op, void* dst, const void* a, const void* b, size_t count) {
  ScopedPhase phase(Phase::kReduce);
  reduce_detail::activeReduceKernels().reduceTwo(type, op, dst, a, b, count);
}

void scaleBuffer(DataType type, void* buf, size_t count, double factor) {
  ScopedPhase phase(Phase::kReduce);
  reduce_detail::activeReduceKernels().scaleBuffer(type, buf, count, factor);
}

void divideBuffer(DataType type, void* buf, size_t count, int64_t divisor) {
  ScopedPhase phase(Phase::kReduce);
  reduce_detail::activeReduceKernels().divideBuffer(type, buf, count, divisor);
}

void widenToFloat32(DataType type, const void* in, float* out, size_t count) {
  ScopedPhase phase(Phase::kReduce);
  reduce_detail::activeReduceKernels().widen(type, in, out, count);
}

void narrowFromFloat32(DataType type, const float* in, void* out, size_t count) {
  ScopedPhase phase(Phase::kReduce);
  reduce_detail::activeReduceKernels().narrow(type, in, out, count);
}

void reduceMany(DataType type, ReduceOp op, void* dst, const void* const* inputs, int nInputs,
                size_t count, int64_t divisor) {
  ScopedPhase phase(Phase::kReduce);
  reduce_detail::activeReduceKernels().reduceMany(type, op, dst, inputs, nInputs, count, divisor);
}

float halfToFloat(uint16_t h) {
  return reduce_detail::halfBitsToFloat(h);
}
uint16_t floatToHalf(float f) {
  return reduce_detail::floatToHalfBits(f);
}
float bfloat16ToFloat(uint16_t b) {
  return reduce_detail::bfloat16BitsToFloat(b);
}
uint16_t floatToBfloat16(float f) {
  return reduce_detail::floatToBfloat16Bits(f);
}

const char* reduceKernelVariant() {
  return reduce_detail::activeReduceKernels().name;
}

}  // namespace kolo
