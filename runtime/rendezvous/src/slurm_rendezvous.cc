#include "kolo/rendezvous/slurm_rendezvous.h"

#include <cstdlib>

#include "kolo/base/env.h"
#include "kolo/base/logging.h"
#include "kolo/protocol/store_wire.h"
#include "kolo/rendezvous/rank_zero_store.h"

namespace kolo {

int slurmRendezvousPort(const SlurmStep& step) {
  // FNV-1a over "JOB.STEP": neighbouring job ids land far apart.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : step.jobId + "." + step.stepId) h = (h ^ c) * 1099511628211ULL;
  return 20000 + static_cast<int>(h % 12000);
}

Expected<SlurmStepStore> openSlurmStepStore(const SlurmStep& step, const std::string& exported,
                                            double timeoutSeconds) {
  if (step.rank == 0 && step.nodeId != 0) {
    return makeStatus(Code::kInvalidUsage,
                      "Slurm placed rank 0 on node {} ({}), not on the step's first node {}: "
                      "Kolo's srun bootstrap needs rank 0 on the first node (use the default "
                      "block distribution, or start the job with kolorun)",
                      step.nodeId, step.nodeName, step.nodes.front());
  }
  SlurmStepStore out;
  const char* cluster = std::getenv("SLURM_CLUSTER_NAME");
  out.jobId = fmt::format("slurm-{}-{}.{}", cluster ? cluster : "", step.jobId, step.stepId);
  KOLO_ASSIGN_OR_RETURN(out.secret, slurmStepSecret(step, exported));
  RankZeroStoreSpec spec;
  KOLO_ASSIGN_OR_RETURN(spec.address,
                        resolveIpv4(step.nodes.front(),
                                    "the first node of the Slurm step (rank 0 hosts the "
                                    "rendezvous there)"));
  spec.port = slurmRendezvousPort(step);
  spec.secret = out.secret;
  spec.rank = step.rank;
  spec.size = step.size;
  spec.timeoutSeconds = timeoutSeconds;
  spec.what = fmt::format("Slurm step {}.{} (its port is derived from the job and step ids)",
                          step.jobId, step.stepId);
  KOLO_ASSIGN_OR_RETURN(out.store, openRankZeroStore(spec));
  return out;
}

}  // namespace kolo
