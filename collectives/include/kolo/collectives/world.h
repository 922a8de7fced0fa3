// connectWorld: turns (rank, size, a KvStore) into a Communicator. Ranks publish their host
// identity; when every rank shares one host the shm transport and arena are used, otherwise
// TCP (KOLO_TRANSPORT=auto|shm|tcp overrides).
// Thread: caller's; every rank calls it once per world.
#pragma once

#include <memory>
#include <string>

#include "kolo/base/kv_store.h"
#include "kolo/collectives/communicator.h"

namespace kolo {

struct WorldSpec {
  int rank = 0;
  int size = 1;
  std::string jobId = "kolo";   // names shm segments and store keys; unique per job
  std::string hostKey;          // ranks with equal hostKey share a host (default: hostname)
  std::string bindAddress;      // TCP listen address (default: 127.0.0.1 when all local)
  std::string transport = "auto";  // auto | shm | tcp
  double connectTimeoutSeconds = 30.0;
  CommunicatorOptions options;
};

// Reads rank, size, job id, host, transport and timeout from the KOLO_* environment.
Expected<WorldSpec> worldSpecFromEnv();

Expected<std::unique_ptr<Communicator>> connectWorld(KvStore& store, const WorldSpec& spec);

}  // namespace kolo
