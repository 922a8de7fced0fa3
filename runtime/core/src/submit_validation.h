// Checks a submission on the caller's thread, before anything is recorded, so that malformed
// arguments fail at once on the rank that made them (kInvalidArgument naming the tensor and
// the bad value) instead of reaching negotiation.
// Thread: caller's (pure function).
#pragma once

#include <vector>

#include "kolo/base/status.h"
#include "kolo/core/request.h"
#include "kolo/core/tensor.h"

namespace kolo::core {

// `members`: global ranks of the target process set.
Status validateSubmission(const Request& request, const Tensor& tensor,
                          const std::vector<int32_t>& members);

}  // namespace kolo::core
