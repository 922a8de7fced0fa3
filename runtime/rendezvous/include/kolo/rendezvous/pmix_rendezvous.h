// The rendezvous of a job started by a PMIx launcher without kolorun (`srun --mpi=pmix`, or
// prterun): the launcher's PMIx server tells each task its rank, the job size and its node's
// name, and carries rank 0's store address and a fresh job secret to every
// task. Rank 0 then hosts kolorun's store server (kolo/rendezvous/rank_zero_store.h) on an
// ephemeral port, so nothing is derived or guessed: the port is the one the kernel gave, and
// the secret is 32 random bytes (or KOLO_SECRET when the user exported one) that travel only
// through the PMIx server, which answers only the job's own processes. docs/SECURITY.md says
// what this protects against.
//
// Built only when libpmix is found (KOLO_HAVE_PMIX); without it openPmixStore says so.
#pragma once

#include <memory>
#include <string>

#include "kolo/base/kv_store.h"

namespace kolo {

struct PmixJobStore {
  std::unique_ptr<KvStore> store;  // also keeps the PMIx session (and on rank 0 the server)
  std::string jobId;               // "pmix-<namespace>.<session>": store keys, shm segment names
  std::string secret;              // kSecretBytes raw bytes
  std::string hostName;            // the node's name as the launcher knows it (PMIX_HOSTNAME)
  int rank = 0;
  int size = 1;
};

// True when a PMIx server started this process (PMIX_RANK and PMIX_NAMESPACE are set).
bool launchedByPmix();
// True when Kolo was built with libpmix.
bool builtWithPmix();

// PMIx_Init, rank, size and node name, and the store described above (rank 0 starts the server,
// publishes it, and every rank joins after a fence), waiting up to `timeoutSeconds`.
// `exported` is KOLO_SECRET's decoded bytes when set.
Expected<PmixJobStore> openPmixStore(const std::string& exported, double timeoutSeconds);

}  // namespace kolo
