#include "kolo/collectives/reduce_variants.h"

#include "reduce/reduce_kernels.h"

namespace kolo {

std::vector<ReduceVariant> supportedReduceVariants() {
  std::vector<ReduceVariant> variants;
  for (const reduce_detail::ReduceKernels* kernels : reduce_detail::supportedReduceKernels()) {
    variants.push_back(ReduceVariant{kernels->name, kernels->reduceTwo, kernels->scaleBuffer,
                                     kernels->reduceMany});
  }
  return variants;
}

}  // namespace kolo
