#include "kolo/rendezvous/scheduler_store.h"

#include "kolo/base/env.h"
#include "kolo/base/slurm_step.h"
#include "kolo/rendezvous/pmix_rendezvous.h"
#include "kolo/rendezvous/slurm_rendezvous.h"

namespace kolo {

bool pmixBootstrapApplies() {
  // Under mpirun (Open MPI is a PMIx launcher too) MPI itself is the rendezvous.
  return launchedByPmix() && builtWithPmix() && !getEnv("OMPI_COMM_WORLD_SIZE");
}

Expected<std::optional<SchedulerStore>> openSchedulerStore(const std::string& exported,
                                                           double timeoutSeconds) {
  SchedulerStore out;
  if (pmixBootstrapApplies()) {
    KOLO_ASSIGN_OR_RETURN(PmixJobStore pmix, openPmixStore(exported, timeoutSeconds));
    out.store = std::move(pmix.store);
    out.jobId = std::move(pmix.jobId);
    out.secret = std::move(pmix.secret);
    out.hostName = std::move(pmix.hostName);
    out.rank = pmix.rank;
    out.size = pmix.size;
    out.bootstrap = "pmix";
    return std::optional<SchedulerStore>(std::move(out));
  }
  KOLO_ASSIGN_OR_RETURN(std::optional<SlurmStep> step, slurmStepFromEnv());
  if (!step) return std::optional<SchedulerStore>();
  KOLO_ASSIGN_OR_RETURN(SlurmStepStore slurm, openSlurmStepStore(*step, exported, timeoutSeconds));
  out.store = std::move(slurm.store);
  out.jobId = std::move(slurm.jobId);
  out.secret = std::move(slurm.secret);
  out.rank = step->rank;
  out.size = step->size;
  out.bootstrap = "slurm";
  return std::optional<SchedulerStore>(std::move(out));
}

}  // namespace kolo
