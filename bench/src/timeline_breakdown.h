// Where a workload's step time went, read back from the Engine's Chrome-trace timeline
// (KOLO_TIMELINE, written by rank 0): the collectives (ALLREDUCE, FUSED_ALLREDUCE), the fusion
// buffer copies (MEMCPY_IN/OUT_FUSION_BUFFER), and the rest of the step (negotiation, the
// coordinator's cycle, handle completion). Every tensor of a fused batch repeats the batch's
// spans on its own row, so spans are counted once per (name, start).
// Thread: rank 0's main thread, after the Engine closed the file.
#pragma once

#include <string>
#include <string_view>

#include "kolo/base/status.h"

namespace kolo::bench {

struct TimelineBreakdown {
  double collectiveMs = 0.0;  // summed over the whole timeline (every step)
  double copyMs = 0.0;
  size_t batches = 0;  // distinct collective spans
  size_t fusedBatches = 0;
};

// Sums the spans of rows whose tensor name starts with `tensorPrefix` (the workload's tensors,
// not the bench's own bookkeeping ops). kInvalidArgument when the file is not a timeline.
Expected<TimelineBreakdown> readTimelineBreakdown(const std::string& path,
                                                  std::string_view tensorPrefix);
// The same over the timeline's text (a closed JSON array, or a prefix a crashed run left).
Expected<TimelineBreakdown> parseTimelineBreakdown(std::string_view text,
                                                   std::string_view tensorPrefix);

}  // namespace kolo::bench
