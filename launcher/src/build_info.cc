#include "kolo/launcher/build_info.h"

#include <fmt/format.h>

#include "kolo/launcher/build_config.h"

namespace kolo::launcher {
namespace {

struct EnvVariable {
  const char* name;
  const char* defaultValue;
  const char* meaning;
};

// Kept in step with the getEnv/envInt/envDouble calls in runtime/ and collectives/ (a lint test
// greps them); the launcher cannot ask the runtime, which it does not link.
constexpr EnvVariable kVariables[] = {
    {"KOLO_RANK", "(kolorun)",
     "this process's rank; OMPI_COMM_WORLD_RANK, PMI_RANK, SLURM_PROCID also read"},
    {"KOLO_SIZE", "(kolorun)",
     "number of ranks; OMPI_COMM_WORLD_SIZE, PMI_SIZE, SLURM_NTASKS also read"},
    {"KOLO_LOCAL_RANK", "(kolorun)", "rank among the ranks on this host"},
    {"KOLO_LOCAL_SIZE", "(kolorun)", "ranks on this host"},
    {"KOLO_CROSS_RANK", "(kolorun)", "index of this host among the hosts"},
    {"KOLO_CROSS_SIZE", "(kolorun)", "hosts that run this local rank"},
    {"KOLO_HOSTNAME", "gethostname()", "host identity: ranks with equal values share memory"},
    {"KOLO_STORE", "(kolorun)", "rendezvous store: tcp:HOST:PORT (kolorun) or file:/DIR"},
    {"KOLO_SECRET", "(kolorun)", "64 hex digits authenticating store messages; never logged"},
    {"KOLO_JOB_ID", "kolo", "names shared-memory segments and store keys"},
    {"KOLO_BIND_ADDRESS", "any", "address this rank binds for TCP"},
    {"KOLO_NETWORK_INTERFACE", "any", "interface kolorun --network-interface chose"},
    {"KOLO_ELASTIC", "(kolorun)", "1 in a --min-np job: ranks join membership generations"},
    {"KOLO_DISCOVERY_INTERVAL_SECONDS", "1", "kolorun: how often --host-discovery-script runs"},
    {"KOLO_START_TIMEOUT", "30", "seconds to reach the store and connect to peers at startup"},
    {"KOLO_TIMEOUT_SECONDS", "300", "seconds one transfer may wait for a peer"},
    {"KOLO_HEARTBEAT_SECONDS", "1", "how often a rank's session beats its heartbeat in the store"},
    {"KOLO_HEARTBEAT_TIMEOUT_SECONDS", "10",
     "kolorun: a rank whose heartbeat stands still this long has failed; 0 disables"},
    {"KOLO_ABORT_GRACE_SECONDS", "2",
     "kolorun: seconds survivors get to report a peer failure before SIGTERM"},
    {"KOLO_FLIGHT_RECORDER_SIZE", "256", "ops kept for the flight recorder dump; 0 disables"},
    {"KOLO_FLIGHT_RECORDER_DIR", "/tmp",
     "where kolo-flight.rank<R>.pid<P>.txt is written on failure, timeout or SIGUSR1"},
    {"KOLO_FAULT_INJECT", "off",
     "rank=R,op=O,seq=N,phase=P,action=A: inject a fault (docs/RELIABILITY.md)"},
    {"KOLO_TRANSPORT", "auto", "auto | shm | tcp: transport between ranks"},
    {"KOLO_SHM_CHUNK_BYTES", "from caches",
     "shm allreduce pipeline chunk; default L2/4 (within L3), e.g. 256K"},
    {"KOLO_GPU_OPERATIONS", "auto",
     "auto | nccl | host: CUDA tensors through NCCL, or staged through host memory"},
    {"KOLO_CPU_OPERATIONS", "kolo", "kolo | mpi: CPU collectives backend"},
    {"KOLO_ALLREDUCE_ALGO", "auto", "auto | ring | rd | shm | hier: force an allreduce algorithm"},
    {"KOLO_HIERARCHICAL_ALLREDUCE", "auto",
     "auto | 1 | 0: node/cross-host allreduce across hosts (HOROVOD_HIERARCHICAL_ALLREDUCE)"},
    {"KOLO_HIERARCHICAL_ALLGATHER", "auto",
     "auto | 1 | 0: node/cross-host allgather across hosts (HOROVOD_HIERARCHICAL_ALLGATHER)"},
    {"KOLO_FUSION_THRESHOLD", "64M",
     "most bytes in one fusion buffer; 0 disables fusion (HOROVOD_FUSION_THRESHOLD)"},
    {"KOLO_FUSION_LARGE_TENSOR", "1M", "tensors at or above this run in place, never packed"},
    {"KOLO_CACHE_CAPACITY", "1024", "response cache entries; 0 disables (HOROVOD_CACHE_CAPACITY)"},
    {"KOLO_CYCLE_TIME", "1", "ms; longest coordinator park without wake-ups (HOROVOD_CYCLE_TIME)"},
    {"KOLO_TIMELINE", "off", "Chrome trace file to write (HOROVOD_TIMELINE)"},
    {"KOLO_STALL_WARNING_SECONDS", "60",
     "warn about tensors some ranks have not submitted; 0 disables"},
    {"KOLO_STALL_SHUTDOWN_SECONDS", "600", "fail stalled operations after this long; 0 disables"},
    {"KOLO_SHUTDOWN_TIMEOUT_SECONDS", "30", "how long shutdown waits for the other ranks"},
    {"KOLO_TCP_HANDSHAKE_TIMEOUT", "5", "seconds for a TCP peer's hello"},
    {"KOLO_TCP_SOCKET_BUFFER", "system", "TCP send/receive buffer size (e.g. 4M)"},
    {"KOLO_MPI_MAX_COUNT", "0", "split MPI calls above this many elements; 0: no split"},
    {"KOLO_LOG_LEVEL", "warning",
     "trace | debug | info | warning | error | none (HOROVOD_LOG_LEVEL)"},
    {"KOLO_LOG_SUBSYS", "all", "comma list of subsystems for debug/trace output (e.g. shm,tcp)"},
    {"KOLO_PRINT_CONFIG", "0", "1: rank 0 prints every setting at startup"},
};

}  // namespace

std::string checkBuildReport() {
  auto row = [](bool on, const char* name, const char* what) {
    return fmt::format("  [{}] {:<14} {}\n", on ? "X" : " ", name, what);
  };
  std::string text = fmt::format("Kolo {} was built with:\n", KOLO_BUILD_VERSION);
  text += row(true, "shm", "shared-memory transport between ranks on one host");
  text += row(true, "tcp", "TCP transport between hosts");
  text += row(KOLO_BUILD_WITH_MPI, "MPI", "Open MPI backend (KOLO_CPU_OPERATIONS=mpi, --mpi)");
  text += row(KOLO_BUILD_WITH_NCCL, "NCCL", "NCCL backend for GPU tensors");
  text += row(KOLO_BUILD_WITH_CUDA, "CUDA", "CUDA device memory support");
  text += row(KOLO_BUILD_WITH_HWLOC, "hwloc", "topology discovery");
  text += row(KOLO_BUILD_WITH_TORCH, "torch adapter", "kolo.torch (Horovod-compatible API)");
  return text;
}

std::string helpEnvTable() {
  size_t nameWidth = 0;
  size_t defaultWidth = 7;
  for (const EnvVariable& v : kVariables) {
    nameWidth = std::max(nameWidth, std::string_view(v.name).size());
    defaultWidth = std::max(defaultWidth, std::string_view(v.defaultValue).size());
  }
  std::string text = fmt::format("{:<{}}  {:<{}}  {}\n", "VARIABLE", nameWidth, "DEFAULT",
                                 defaultWidth, "MEANING");
  for (const EnvVariable& v : kVariables) {
    text += fmt::format("{:<{}}  {:<{}}  {}\n", v.name, nameWidth, v.defaultValue, defaultWidth,
                        v.meaning);
  }
  return text;
}

}  // namespace kolo::launcher
