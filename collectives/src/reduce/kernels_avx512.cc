// The AVX-512 kernel variant (x86-64 only; built with -mavx512f/bw/vl/dq and selected at run time
// only on CPUs that have all four). Integers rely on the auto-vectorizer over reduce_loops.h;
// f32/f64 and f16/bf16 use the explicit 512-bit loops of avx512_hooks.h.
#include "reduce/avx512_hooks.h"

namespace kolo::reduce_detail {

const ReduceKernels kAvx512Kernels{"avx512",   &reduceTwoImpl, &scaleImpl,     &divideImpl,
                                   &widenImpl, &narrowImpl,    &reduceManyImpl};

}  // namespace kolo::reduce_detail
