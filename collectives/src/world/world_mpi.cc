// The MPI side of world bootstrap: connectWorldFromMpi and the KOLO_CPU_OPERATIONS choice.
// Without KOLO_HAVE_MPI only the checks remain and connectWorldFromMpi reports kUnavailable.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "kolo/base/env.h"
#include "kolo/base/logging.h"
#include "kolo/base/settings.h"
#include "kolo/collectives/world.h"
#include "kolo/protocol/env_contract.h"

#ifdef KOLO_HAVE_MPI
#include "transport/mpi/mpi_env.h"
#include "transport/mpi/mpi_kv_store.h"
#include "transport/mpi/mpi_transport.h"
#endif

namespace kolo {

Status checkCpuOperations(const std::string& value) {
  if (value == "kolo" || value == "mpi") return Status::ok();
  return makeStatus(Code::kInvalidArgument, "KOLO_CPU_OPERATIONS is '{}'; expected kolo or mpi",
                    value);
}

bool builtWithMpi() {
#ifdef KOLO_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool launchedByMpi() {
  return getEnv("OMPI_COMM_WORLD_SIZE").has_value() || getEnv("PMI_SIZE").has_value() ||
         getEnv("PMIX_RANK").has_value();
}

#ifndef KOLO_HAVE_MPI

Expected<std::unique_ptr<Communicator>> connectWorldFromMpi(const WorldSpec& spec) {
  KOLO_RETURN_IF_ERROR(checkCpuOperations(spec.cpuOperations));
  return Status(Code::kUnavailable,
                "Kolo was built without MPI (KOLO_WITH_MPI=OFF): start the job with kolorun, "
                "or rebuild with MPI for mpirun and KOLO_CPU_OPERATIONS=mpi");
}

#else

namespace {

// Ranks that share memory get one host key: the processor name plus the lowest world rank on
// that node, so two nodes that report the same name still count as two hosts.
Expected<std::string> mpiHostKey(int worldRank) {
  MPI_Comm local = MPI_COMM_NULL;
  KOLO_RETURN_IF_ERROR(mpiStatus(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, worldRank, MPI_INFO_NULL, &local),
      "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)"));
  int leader = worldRank;
  Status s = mpiStatus(MPI_Allreduce(&worldRank, &leader, 1, MPI_INT, MPI_MIN, local),
                       "MPI_Allreduce (node leader)");
  MPI_Comm_free(&local);
  KOLO_RETURN_IF_ERROR(s);
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  MPI_Get_processor_name(name, &length);
  return fmt::format("{}#{}", std::string(name, static_cast<size_t>(length)), leader);
}

// Names shm segments and store keys; KOLO_JOB_ID wins, otherwise rank 0 picks one per job so
// two mpirun jobs on one host never share segments.
Expected<std::string> mpiJobId(const WorldSpec& spec, int worldRank) {
  if (settingText(protocol::kEnvJobId)) return spec.jobId;
  char id[64] = {};
  if (worldRank == 0) {
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    std::snprintf(id, sizeof(id), "kolo-mpi-%d-%llx", static_cast<int>(getpid()),
                  static_cast<unsigned long long>(now));
  }
  KOLO_RETURN_IF_ERROR(
      mpiStatus(MPI_Bcast(id, sizeof(id), MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast (job id)"));
  id[sizeof(id) - 1] = '\0';
  return std::string(id);
}

}  // namespace

Expected<std::unique_ptr<Communicator>> connectWorldFromMpi(const WorldSpec& spec) {
  KOLO_RETURN_IF_ERROR(checkCpuOperations(spec.cpuOperations));
  KOLO_RETURN_IF_ERROR(ensureMpiInitialized());
  WorldSpec resolved = spec;
  {
    auto lock = mpiCallLock();
    MPI_Comm_rank(MPI_COMM_WORLD, &resolved.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &resolved.size);
  }
  setLogRank(resolved.rank);
  if (resolved.cpuOperations == "mpi") {
    // KOLO_MPI_MAX_COUNT lowers the per-call count limit so tests exercise chunking with
    // ordinary buffer sizes.
    const auto maxCount =
        static_cast<size_t>(std::max<int64_t>(0, settingInt("KOLO_MPI_MAX_COUNT")));
    KOLO_ASSIGN_OR_RETURN(auto transport,
                          MpiTransport::create(MPI_COMM_WORLD, maxCount, /*native=*/true));
    KOLO_LOG(kDebug, "world", "rank {}/{} runs its collectives on MPI", resolved.rank,
             resolved.size);
    return std::make_unique<Communicator>(std::shared_ptr<Transport>(std::move(transport)),
                                          nullptr, resolved.options);
  }
  {
    auto lock = mpiCallLock();
    KOLO_ASSIGN_OR_RETURN(resolved.hostKey, mpiHostKey(resolved.rank));
    KOLO_ASSIGN_OR_RETURN(resolved.jobId, mpiJobId(spec, resolved.rank));
  }
  KOLO_ASSIGN_OR_RETURN(auto store,
                        MpiKvStore::create(MPI_COMM_WORLD, resolved.connectTimeoutSeconds));
  auto comm = connectWorld(*store, resolved);
  Status closed = store->close(Deadline::afterSeconds(resolved.connectTimeoutSeconds));
  if (!comm.hasValue()) return comm.status();
  KOLO_RETURN_IF_ERROR(closed.withContext("finishing the MPI bootstrap"));
  return comm;
}

#endif

}  // namespace kolo
