// The rendezvous a scheduler's direct launch offers a program started without kolorun or
// mpirun: PMIx (srun --mpi=pmix, or another PMIx launcher that is not mpirun; see
// pmix_rendezvous.h) or a plain srun step (slurm_rendezvous.h). Programs that connect a world
// themselves (kolo-bench, the multi-process tests) use this; the runtime's Engine makes the same
// choice in engine_bootstrap.cc, where it also places ranks and counts sessions.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "kolo/base/kv_store.h"

namespace kolo {

struct SchedulerStore {
  std::unique_ptr<KvStore> store;
  std::string jobId;     // store keys and shm segment names
  std::string secret;    // kSecretBytes raw bytes
  std::string hostName;  // the node's name from PMIx; empty under plain srun
  int rank = 0;
  int size = 1;
  const char* bootstrap = "";  // "pmix" or "slurm"
};

// True when a PMIx launcher that is not mpirun started this process and Kolo has PMIx.
bool pmixBootstrapApplies();

// nullopt when no scheduler started this process. `exported` is KOLO_SECRET's decoded bytes.
Expected<std::optional<SchedulerStore>> openSchedulerStore(const std::string& exported,
                                                           double timeoutSeconds);

}  // namespace kolo
