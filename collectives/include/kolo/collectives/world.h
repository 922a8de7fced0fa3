// connectWorld: turns (rank, size, a KvStore) into a Communicator. Ranks publish their host
// identity (KOLO_HOSTNAME, default the hostname); when every rank shares one host the shm
// transport and arena are used, otherwise TCP (KOLO_TRANSPORT=auto|shm|tcp overrides), and then
// the world also gets its node subgroup (this host's ranks, over shm with its arena) and cross
// subgroup (this local rank on every other host, over TCP) for hierarchical algorithms.
// Under mpirun, connectWorldFromMpi bootstraps from MPI instead of a store and
// KOLO_CPU_OPERATIONS=mpi|kolo picks MPI or Kolo's own transports for the collectives.
// Thread: caller's; every rank calls it once per world.
#pragma once

#include <memory>
#include <string>
#include <vector>

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
  // KOLO_SECRET's 32 bytes: TCP connections prove it to each other (tcp_handshake.h). Empty
  // (no kolorun, a file: store): hellos are checked, not authenticated.
  std::string secret;
  // A subgroup's members as world ranks (position = rank in the subgroup); empty: the world.
  std::vector<int> globalRanks;
  // KOLO_CPU_OPERATIONS: "kolo" runs the collectives on Kolo's shm/tcp transports, "mpi" on
  // MPI (its collectives where it has them, its point-to-point under Kolo's otherwise).
  std::string cpuOperations = "kolo";
  CommunicatorOptions options;
};

// Reads rank, size, job id, host, transport and timeout from the KOLO_* environment.
Expected<WorldSpec> worldSpecFromEnv();

// With cpuOperations "mpi" this hands over to connectWorldFromMpi (the store is not used).
Expected<std::unique_ptr<Communicator>> connectWorld(KvStore& store, const WorldSpec& spec);

// ok for "kolo" and "mpi"; kInvalidArgument naming the value otherwise.
Status checkCpuOperations(const std::string& value);

// True when Kolo was built with the Open MPI backend.
bool builtWithMpi();
// True when mpirun (Open MPI, or a PMI launcher) started this process.
bool launchedByMpi();

// Bootstraps from MPI_COMM_WORLD without a store (rank and size come from MPI; host identity
// from MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)); initialises MPI if the program has not.
// cpuOperations "mpi": the Communicator runs over MPI. "kolo": shm/tcp as connectWorld picks
// them, bootstrapped through an MPI-backed store. kUnavailable when built without MPI.
Expected<std::unique_ptr<Communicator>> connectWorldFromMpi(const WorldSpec& spec);

}  // namespace kolo
