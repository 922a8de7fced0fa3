// PhaseSampler: which batches the phase clock runs for when live metrics alone read it. A batch
// of kPhaseSampleMinBytes or more is always clocked (its few scopes per pipeline chunk cost well
// under 0.1 % of it). A smaller batch is clocked once in kPhaseSampleEvery, the first one
// included: an 8-byte allreduce enters two or three scopes of two counter reads each, about 1 %
// of its few microseconds, more than live metrics may cost in all. The batches between samples
// are split in the proportions of their op's last sampled small batch
// (SetMetrics::recordBatch), so the four phases still add up to the collective time. An open
// timeline clocks every batch (ResponseRunner), since each of its events shows its own split.
// Thread: the one running the set's cycles (the driver role).
#pragma once

#include <cstdint>

namespace kolo::core {

inline constexpr uint64_t kPhaseSampleMinBytes = 64 * 1024;
inline constexpr uint32_t kPhaseSampleEvery = 16;

class PhaseSampler {
 public:
  // Whether to clock the next batch, of `batchBytes`.
  bool clock(uint64_t batchBytes) {
    if (batchBytes >= kPhaseSampleMinBytes) return true;
    if (++sinceSample_ < kPhaseSampleEvery) return false;
    sinceSample_ = 0;
    return true;
  }

 private:
  uint32_t sinceSample_ = kPhaseSampleEvery - 1;  // the first small batch is a sample
};

}  // namespace kolo::core
