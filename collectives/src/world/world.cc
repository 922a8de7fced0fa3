#include "kolo/collectives/world.h"

#include <unistd.h>

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "kolo/base/cpu_contention.h"
#include "kolo/base/env.h"
#include "kolo/base/host_address.h"
#include "kolo/base/logging.h"
#include "kolo/base/settings.h"
#include "kolo/collectives/algorithm_policy.h"
#include "kolo/protocol/env_contract.h"
#include "kolo/protocol/store_wire.h"
#include "topology/host_topology.h"
#include "transport/loopback/loopback_transport.h"
#include "transport/shm/shm_bootstrap.h"
#include "transport/tcp/tcp_bootstrap.h"

namespace kolo {
namespace {

// Rank and size as kolorun, Open MPI, MPICH/PMI, Slurm or torchrun publish them, in that order.
std::optional<std::string> launcherValue(const char* koloName,
                                         std::initializer_list<const char*> others) {
  if (auto v = settingText(koloName)) return v;
  for (const char* name : others) {
    if (auto v = getEnv(name)) return v;
  }
  return std::nullopt;
}

Expected<int> parseNonNegative(const std::string& text, const char* what) {
  char* end = nullptr;
  long value = std::strtol(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || value < 0) {
    return makeStatus(Code::kInvalidArgument, "{} is '{}', not a non-negative integer", what, text);
  }
  return static_cast<int>(value);
}

// Segment sizes for a shm arena of `localRanks` ranks: the pipeline chunk follows the caches.
ShmTuning shmTuningFor(int localRanks) {
  ShmTuning tuning;
  tuning.chunkBytes = shmChunkBytes(localRanks, tuning.pipelineDepth, tuning.chunkBytes);
  tuning.pullMinBytes = shmPullMinBytes();
  tuning.streamingMinBytes = shmStreamingMinBytes();
  return tuning;
}

// Where this rank listens when KOLO_BIND_ADDRESS is unset (kolorun always sets it; mpirun and
// schedulers do not): loopback on one host, else the address of KOLO_NETWORK_INTERFACE or this
// host's first non-loopback IPv4 address, never a wildcard.
Expected<std::string> defaultBindAddress(bool allLocal, int rank) {
  if (allLocal) return std::string("127.0.0.1");
  if (auto name = settingText("KOLO_NETWORK_INTERFACE")) {
    auto address = interfaceAddress(*name);
    if (!address) return address.status().withContext("KOLO_NETWORK_INTERFACE");
    return address;
  }
  std::string address = primaryAddress();
  KOLO_LOG(kInfo, "world",
           "rank {}: the ranks span hosts and KOLO_BIND_ADDRESS is unset: listening on {} (this "
           "host's first non-loopback IPv4 address; KOLO_NETWORK_INTERFACE picks another)",
           rank, address);
  return address;
}

// One subgroup of the world: its own job id (so its store keys, shm segment name and TCP hellos
// never meet the world's or another subgroup's), its own rank and size.
WorldSpec subgroupSpec(const WorldSpec& world, const std::string& suffix, int rank, int size) {
  WorldSpec spec = world;
  spec.jobId = world.jobId + "." + suffix;
  spec.rank = rank;
  spec.size = size;
  return spec;
}

// Node group over shm (with its arena, the same-host fast path), cross group over TCP. Every
// rank builds the node group before the cross group, so the bootstraps cannot wait on each
// other in a cycle.
Status attachHostSubgroups(KvStore& store, const WorldSpec& world,
                           std::span<const std::string> hostKeys, Communicator& comm) {
  HostLayout layout = hostLayoutFromKeys(hostKeys, world.rank);
  std::unique_ptr<Communicator> node;
  if (layout.localSize == 1) {
    node = std::make_unique<Communicator>(makeLoopbackWorld(1)[0], nullptr, world.options);
  } else {
    WorldSpec spec = subgroupSpec(world, fmt::format("node{}", layout.hostIndex), layout.localRank,
                                  layout.localSize);
    auto shm = connectShm(store, spec, shmTuningFor(spec.size));
    if (!shm) return shm.status().withContext("building the node subgroup");
    CommunicatorOptions options = world.options;
    options.worldRanks = layout.ranksOnHost(layout.hostIndex);
    node = std::make_unique<Communicator>(std::move(shm->transport), std::move(shm->arena),
                                          std::move(options));
  }
  std::unique_ptr<Communicator> cross;
  if (layout.crossSize == 1) {
    cross = std::make_unique<Communicator>(makeLoopbackWorld(1)[0], nullptr, world.options);
  } else {
    WorldSpec spec = subgroupSpec(world, fmt::format("cross{}", layout.localRank), layout.crossRank,
                                  layout.crossSize);
    spec.globalRanks.clear();
    for (int h = 0; h < layout.numHosts; ++h) {
      const std::vector<int> ranks = layout.ranksOnHost(h);
      if (static_cast<size_t>(layout.localRank) < ranks.size()) {
        spec.globalRanks.push_back(ranks[static_cast<size_t>(layout.localRank)]);
      }
    }
    auto tcp = connectTcpTransport(store, spec);
    if (!tcp) return tcp.status().withContext("building the cross-host subgroup");
    CommunicatorOptions options = world.options;
    options.worldRanks = spec.globalRanks;
    cross = std::make_unique<Communicator>(std::move(tcp).value(), nullptr, std::move(options));
  }
  KOLO_LOG(kDebug, "world", "rank {}: host {} of {}, local rank {} of {}, cross rank {} of {}",
           world.rank, layout.hostIndex, layout.numHosts, layout.localRank, layout.localSize,
           layout.crossRank, layout.crossSize);
  comm.attachSubgroups(std::move(layout), std::move(node), std::move(cross));
  return Status::ok();
}

}  // namespace

Expected<WorldSpec> worldSpecFromEnv() {
  WorldSpec spec;
  auto rank = launcherValue(protocol::kEnvRank,
                            {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID", "RANK"});
  auto size = launcherValue(
      protocol::kEnvSize,
      {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "WORLD_SIZE"});
  if (!rank || !size) {
    return Status(Code::kInvalidUsage,
                  "KOLO_RANK and KOLO_SIZE are not set: start the program with kolorun "
                  "(e.g. `kolorun -np 2 ./program`) or mpirun");
  }
  KOLO_ASSIGN_OR_RETURN(spec.rank, parseNonNegative(*rank, protocol::kEnvRank));
  KOLO_ASSIGN_OR_RETURN(spec.size, parseNonNegative(*size, protocol::kEnvSize));
  if (spec.size < 1 || spec.rank >= spec.size) {
    return makeStatus(Code::kInvalidArgument, "rank {} is out of range for world size {}",
                      spec.rank, spec.size);
  }
  spec.jobId = settingTextOrDefault(protocol::kEnvJobId);
  if (auto secret = settingText(protocol::kEnvSecret)) {
    KOLO_ASSIGN_OR_RETURN(spec.secret, protocol::decodeSecret(*secret));
  }
  // Under srun the node's Slurm name is its identity (nodes may share a kernel hostname).
  spec.hostKey =
      settingText(protocol::kEnvHostname).value_or(getEnv("SLURMD_NODENAME").value_or(hostName()));
  spec.bindAddress = settingText(protocol::kEnvBindAddress).value_or("");
  KOLO_ASSIGN_OR_RETURN(spec.transport, settingChoiceChecked("KOLO_TRANSPORT"));
  spec.connectTimeoutSeconds = settingSeconds(protocol::kEnvStartTimeout);
  KOLO_ASSIGN_OR_RETURN(spec.cpuOperations, settingChoiceChecked("KOLO_CPU_OPERATIONS"));
  spec.options.timeoutSeconds = settingSeconds("KOLO_TIMEOUT_SECONDS");
  KOLO_ASSIGN_OR_RETURN(spec.options.algorithms, coll::selectionPolicyFromEnv());
  return spec;
}

Expected<std::unique_ptr<Communicator>> connectWorld(KvStore& store, const WorldSpec& spec) {
  if (spec.size < 1 || spec.rank < 0 || spec.rank >= spec.size) {
    return makeStatus(Code::kInvalidArgument, "rank {} is out of range for world size {}",
                      spec.rank, spec.size);
  }
  if (spec.transport != "auto" && spec.transport != "shm" && spec.transport != "tcp") {
    return makeStatus(Code::kInvalidArgument, "KOLO_TRANSPORT is '{}'; expected auto, shm or tcp",
                      spec.transport);
  }
  KOLO_RETURN_IF_ERROR(checkCpuOperations(spec.cpuOperations));
  if (spec.cpuOperations == "mpi") return connectWorldFromMpi(spec);
  setLogRank(spec.rank);
  if (spec.size == 1) {
    auto self = makeLoopbackWorld(1);
    return std::make_unique<Communicator>(self[0], nullptr, spec.options);
  }

  // Every rank learns every rank's host, so all choose the same transport.
  const Deadline deadline = Deadline::afterSeconds(spec.connectTimeoutSeconds);
  const std::string prefix = spec.jobId + "/world/host/";
  WorldSpec resolved = spec;
  if (resolved.hostKey.empty()) resolved.hostKey = hostName();
  // One token for the whole world, made before the transports that report into it.
  if (!resolved.options.abort) resolved.options.abort = std::make_shared<AbortToken>();
  KOLO_RETURN_IF_ERROR(store.set(prefix + std::to_string(spec.rank), resolved.hostKey));
  bool allLocal = true;
  std::vector<std::string> hostKeys;
  for (int r = 0; r < spec.size; ++r) {
    auto host = store.get(prefix + std::to_string(r), deadline);
    if (!host.hasValue()) {
      return host.status().withContext(fmt::format(
          "rank {}: waiting for rank {} to join through {}", spec.rank, r, store.describe()));
    }
    allLocal = allLocal && host.value() == resolved.hostKey;
    hostKeys.push_back(host.value());
  }

  CpuContention::noteRanksOnThisHost(
      static_cast<int>(std::count(hostKeys.begin(), hostKeys.end(), resolved.hostKey)));
  std::string transport = spec.transport;
  if (transport == "auto") transport = allLocal ? "shm" : "tcp";
  if (transport == "shm" && !allLocal) {
    return Status(Code::kInvalidArgument,
                  "KOLO_TRANSPORT=shm needs every rank on one host, but the ranks span hosts");
  }
  processTopology();  // discovered once per process; its facts are logged at info level
  KOLO_LOG(kDebug, "world", "rank {}/{} connecting with the {} transport", spec.rank, spec.size,
           transport);
  if (transport == "shm") {
    KOLO_ASSIGN_OR_RETURN(ShmWorld shm, connectShm(store, resolved, shmTuningFor(spec.size)));
    return std::make_unique<Communicator>(std::move(shm.transport), std::move(shm.arena),
                                          resolved.options);
  }
  if (resolved.bindAddress.empty()) {
    KOLO_ASSIGN_OR_RETURN(resolved.bindAddress, defaultBindAddress(allLocal, spec.rank));
  }
  KOLO_ASSIGN_OR_RETURN(auto tcp, connectTcpTransport(store, resolved));
  auto comm = std::make_unique<Communicator>(std::move(tcp), nullptr, resolved.options);
  if (!allLocal) KOLO_RETURN_IF_ERROR(attachHostSubgroups(store, resolved, hostKeys, *comm));
  return comm;
}

}  // namespace kolo
