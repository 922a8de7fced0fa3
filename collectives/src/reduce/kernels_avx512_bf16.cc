// The AVX-512 variant for CPUs with AVX512_BF16 (x86-64 only; built with -mavx512bf16 on top of
// the AVX-512 flags): avx512_hooks.h narrows f32 to bf16 with VCVTNEPS2BF16, bit-identical to
// the other variants (registers with float32 subnormals take the integer path).
#include "reduce/avx512_hooks.h"

#if !defined(__AVX512BF16__)
#error "kernels_avx512_bf16.cc must be built with -mavx512bf16"
#endif

namespace kolo::reduce_detail {

const ReduceKernels kAvx512Bf16Kernels{"avx512+bf16", &reduceTwoImpl, &scaleImpl,     &divideImpl,
                                       &widenImpl,    &narrowImpl,    &reduceManyImpl};

}  // namespace kolo::reduce_detail
