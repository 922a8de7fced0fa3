// The rendezvous of a job started directly by srun (no kolorun): rank 0 hosts kolorun's store
// server (kolo/launcher/store_server.h, the same wire protocol and authentication) on the first
// node of the step, at a port derived from the job and step ids, and every rank connects to it.
//
// The job secret authenticating every store message (and the transports' hellos) is KOLO_SECRET
// when the user exported one before srun, else HMAC-SHA256 of the step's ids keyed with the
// user's secret file (KOLO_SECRET_FILE, default ~/.kolo/secret: 32 random bytes, created on first
// use, readable only by its owner; the nodes must share it, as they share the home directory).
// docs/SECURITY.md says what this protects against and what not.
#pragma once

#include <memory>
#include <string>

#include "kolo/base/kv_store.h"
#include "kolo/base/slurm_step.h"

namespace kolo {

struct SlurmStepStore {
  std::unique_ptr<KvStore> store;  // on rank 0 it also owns the server
  std::string jobId;               // "slurm-CLUSTER-JOB.STEP": names store keys and shm segments
  std::string secret;              // kSecretBytes raw bytes
};

// In [20000, 32000), below Linux's ephemeral ports: the same on every rank of the step, and
// different for the steps of one job.
int slurmRendezvousPort(const SlurmStep& step);

// The step's secret as described above; `exported` is KOLO_SECRET's decoded bytes when set.
Expected<std::string> slurmStepSecret(const SlurmStep& step, const std::string& exported);

// Starts the server (rank 0) and connects to it, waiting up to `timeoutSeconds` for rank 0.
Expected<SlurmStepStore> openSlurmStepStore(const SlurmStep& step, const std::string& exported,
                                            double timeoutSeconds);

}  // namespace kolo
