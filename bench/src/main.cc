// kolo-bench: nccl-tests style sweep of one Kolo collective (see bench_options.cc --help).
// Bootstraps from the KOLO_* environment kolorun sets, or from MPI under mpirun.
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "autotune_bench.h"
#include "bench_baseline.h"
#include "bench_bound.h"
#include "bench_ops.h"
#include "bench_options.h"
#include "bench_report.h"
#include "bench_runner.h"
#include "fusion_sweep.h"
#include "kolo/base/env.h"
#include "kolo/base/logging.h"
#include "kolo/base/settings.h"
#include "kolo/bench_interface.h"
#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/reduce.h"
#include "kolo/collectives/world.h"
#include "kolo/protocol/env_contract.h"
#include "kolo/rendezvous/memory_store.h"
#include "kolo/rendezvous/scheduler_store.h"
#include "kolo/rendezvous/store_factory.h"
#include "mpi_compare.h"
#include "runtime_bench.h"
#include "sendrecv_bench.h"
#include "topology_bench.h"
#include "sharded_workload.h"
#include "workload_bench.h"

namespace kolo::bench {
namespace {

constexpr int kExitWrongResults = 1;
constexpr int kExitError = 2;
constexpr int kExitRegression = 3;
constexpr size_t kHostNameBytes = 64;

struct World {
  std::unique_ptr<MpiJob> mpi;  // declared first: finalized after the communicator is gone
  std::unique_ptr<KvStore> store;
  std::shared_ptr<Communicator> comm;  // shared with the session on the runtime path
  std::string hostKey;                 // this rank's host as the world knows it (KOLO_HOSTNAME,
                                       // Slurm's node name, else the kernel's host name)
};

// Long enough for a 256 MiB allreduce on an oversubscribed machine; a dead peer still ends the
// run (the transport names it) well before.
constexpr double kHandleTimeoutSeconds = 120.0;

Expected<World> connect(const BenchOptions& options, int* argc, char*** argv) {
  World world;
  const bool underMpirun = startedByMpirun() && builtWithMpi();
  if (options.compareMpi && !underMpirun) {
    if (!builtWithMpi()) {
      return makeStatus(Code::kInvalidUsage,
                        "--compare mpi needs a kolo-bench built with MPI (KOLO_WITH_MPI=ON), "
                        "started as: mpirun -np 2 kolo-bench {} ... --compare mpi",
                        collectiveName(options.collective));
    }
    return makeStatus(Code::kInvalidUsage,
                      "--compare mpi needs ranks started by Open MPI: mpirun -np 2 kolo-bench "
                      "{} ... --compare mpi",
                      collectiveName(options.collective));
  }
  auto fromEnv = worldSpecFromEnv();
  WorldSpec spec;
  if (underMpirun) {
    KOLO_ASSIGN_OR_RETURN(world.mpi, MpiJob::start(argc, argv));
    KOLO_ASSIGN_OR_RETURN(std::string directory, world.mpi->shareStoreDirectory());
    // Transport and timeout knobs still come from KOLO_*; rank, size and job from MPI.
    if (fromEnv) spec = *fromEnv;
    spec.rank = world.mpi->rank();
    spec.size = world.mpi->size();
    spec.jobId = world.mpi->jobId();
    KOLO_ASSIGN_OR_RETURN(world.store, openStore(protocol::kStoreSchemeFile + directory));
  } else {
    // Started by hand, with no launcher variables at all: a world of one rank (kernel and
    // transport-free timings). Malformed launcher variables are still an error.
    const bool standalone = !fromEnv && !settingText(protocol::kEnvRank) &&
                            !settingText(protocol::kEnvSize) && !getEnv("SLURM_PROCID") &&
                            !getEnv("PMI_RANK");
    if (!standalone) {
      KOLO_RETURN_IF_ERROR(fromEnv.status().withContext("reading the KOLO_* environment"));
      spec = *fromEnv;
    }
    auto url = settingText(protocol::kEnvStore);
    std::optional<SchedulerStore> scheduler;
    if (!url && !standalone) {
      KOLO_ASSIGN_OR_RETURN(scheduler, openSchedulerStore(spec.secret, spec.connectTimeoutSeconds));
    }
    if (url) {
      KOLO_ASSIGN_OR_RETURN(world.store, openStore(*url));
    } else if (scheduler) {
      // Started by srun (with or without PMIx): the step's own rendezvous.
      spec.jobId = scheduler->jobId;
      spec.secret = scheduler->secret;
      if (!scheduler->hostName.empty() && !settingText(protocol::kEnvHostname)) {
        spec.hostKey = scheduler->hostName;
      }
      world.store = std::move(scheduler->store);
    } else if (spec.size == 1) {
      world.store = std::make_unique<MemoryStore>();
    } else {
      return makeStatus(Code::kInvalidUsage,
                        "{} is not set for a world of {} ranks: start kolo-bench with kolorun "
                        "(kolorun -np 2 kolo-bench ...), mpirun or srun",
                        protocol::kEnvStore, spec.size);
    }
  }
  KOLO_ASSIGN_OR_RETURN(world.comm, connectWorld(*world.store, spec));
  world.hostKey = spec.hostKey.empty() ? probeMachine().hostname : spec.hostKey;
  return world;
}

Expected<std::vector<std::string>> gatherHosts(Communicator& comm, const std::string& mine) {
  std::vector<char> local(kHostNameBytes, '\0');
  std::memcpy(local.data(), mine.data(), std::min(mine.size(), kHostNameBytes - 1));
  std::vector<char> all(kHostNameBytes * static_cast<size_t>(comm.size()));
  KOLO_RETURN_IF_ERROR(coll::allgather(comm, local.data(), all.data(), kHostNameBytes)
                           .withContext("gathering host names"));
  std::vector<std::string> hosts;
  hosts.reserve(static_cast<size_t>(comm.size()));
  for (int r = 0; r < comm.size(); ++r) hosts.emplace_back(all.data() + r * kHostNameBytes);
  return hosts;
}

// The preamble's topology block (collectives/topology.h through topology_bench.h): rank 0's
// hardware (NUMA, cores, caches, GPUs, NICs), a row per rank with its host, NUMA node and
// binding, and the ring order with the transport of every hop. Collective; rank 0 gets the
// text. Without hwloc it says why, and the transport line still names the transport.
Expected<std::string> topologyBlock(Communicator& comm) {
  const std::string hostKey = settingText(protocol::kEnvHostname).value_or("");
  auto report = gatherTopologyReport(comm, hostKey);
  std::string out = fmt::format("# transport     : {}{}\n", comm.transport().name(),
                                comm.arena() != nullptr ? " (direct shared-memory arena)" : "");
  if (comm.arena() != nullptr) {
    if (const std::string arena = comm.arena()->describe(); !arena.empty()) {
      out += fmt::format("# shm arena     : {}\n", arena);
    }
  }
  if (comm.rank() != 0) return out;
  if (!report) {
    // Only rank 0 learns of a failed discovery, after the exchange every rank took part in.
    if (report.status().code() != Code::kUnavailable) return report.status();
    return out + fmt::format("# topology      : unavailable ({})\n", report.status().message());
  }
  return out + *report;
}

std::string iterationsText(const BenchOptions& options) {
  std::string text =
      fmt::format("{} timed + {} warmup per size", options.iterations.value_or(kDefaultIterations),
                  options.warmup.value_or(kDefaultWarmup));
  if (!options.iterations || !options.warmup) text += " (fewer above 64 MiB)";
  return text;
}

void printOnRankZero(const Communicator& comm, const std::string& text) {
  if (comm.rank() != 0) return;
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// --workload --sweep-fusion: a fresh session per setting on the same communicator.
Expected<int> runFusionSweepMode(const BenchOptions& options, World& world,
                                 const Workload& workload, const std::string& hosts) {
  Communicator& comm = *world.comm;
  const std::string transport(comm.transport().name());
  WorkloadOptions workloadOptions;
  workloadOptions.iterations = options.iterations.value_or(kDefaultIterations);
  workloadOptions.warmup = options.warmup.value_or(kDefaultWarmup);
  workloadOptions.timeoutSeconds = kHandleTimeoutSeconds;
  std::vector<FusionSetting> grid = fusionGrid(options.sweepThresholds, options.sweepCycleTimesMs);
  KOLO_ASSIGN_OR_RETURN(FusionSweepResult result, runFusionSweep(world.comm, BenchSessionConfig{},
                                                                 workload, workloadOptions, grid));
  const int code = fusionSweepWrong(result) == 0 ? 0 : kExitWrongResults;
  if (comm.rank() != 0) return code;
  printOnRankZero(comm, formatFusionSweep(result, hosts, transport));
  if (!options.jsonPath.empty()) {
    KOLO_RETURN_IF_ERROR(writeTextFile(options.jsonPath, fusionSweepJson(result).dump(2) + "\n"));
  }
  return code;
}

// --workload --autotune: a default session, then an autotuned one, on the same communicator.
Expected<int> runAutotuneMode(const BenchOptions& options, World& world, const Workload& workload,
                              const std::string& hosts) {
  WorkloadOptions workloadOptions;
  workloadOptions.iterations = options.iterations.value_or(kDefaultIterations);
  workloadOptions.warmup = options.warmup.value_or(kDefaultWarmup);
  workloadOptions.timeoutSeconds = kHandleTimeoutSeconds;
  const std::string transport(world.comm->transport().name());
  KOLO_ASSIGN_OR_RETURN(AutotuneComparison result,
                        runAutotuneComparison(world.comm, workload, workloadOptions));
  const int code = result.defaults.wrong + result.tuned.wrong == 0 ? 0 : kExitWrongResults;
  if (world.comm->rank() != 0) return code;
  printOnRankZero(*world.comm, formatAutotuneComparison(result, hosts, transport));
  if (!options.jsonPath.empty()) {
    KOLO_RETURN_IF_ERROR(
        writeTextFile(options.jsonPath, autotuneComparisonJson(result).dump(2) + "\n"));
  }
  return code;
}

// --workload: the session owns the communicator from here on; every exchange is a session op.
Expected<int> runWorkloadMode(const BenchOptions& options, World& world) {
  KOLO_ASSIGN_OR_RETURN(Workload workload, loadWorkload(options.workload));
  Communicator& comm = *world.comm;
  KOLO_ASSIGN_OR_RETURN(std::vector<std::string> hostList, gatherHosts(comm, world.hostKey));
  const std::string hosts = summarizeHosts(hostList);
  if (options.sweepFusion) return runFusionSweepMode(options, world, workload, hosts);
  if (options.autotune) return runAutotuneMode(options, world, workload, hosts);
  const std::string transport(comm.transport().name());
  KOLO_ASSIGN_OR_RETURN(Session session, openBenchSession(world.comm));
  KOLO_ASSIGN_OR_RETURN(BenchSessionSettings settings, benchSessionSettings(session));
  WorkloadOptions workloadOptions;
  workloadOptions.iterations = options.iterations.value_or(kDefaultIterations);
  workloadOptions.warmup = options.warmup.value_or(kDefaultWarmup);
  workloadOptions.timeoutSeconds = kHandleTimeoutSeconds;
  MpiJob* mpi = options.compareMpi ? world.mpi.get() : nullptr;
  KOLO_ASSIGN_OR_RETURN(WorkloadResult result,
                        options.workloadMode == "sharded"
                            ? runShardedWorkload(session, workload, workloadOptions, mpi)
                            : runWorkload(session, workload, workloadOptions, mpi));
  KOLO_RETURN_IF_ERROR(session.shutdown().withContext("shutting the Engine down"));
  session = Session();  // the last reference: closes the timeline file
  if (comm.rank() != 0) return result.wrong == 0 ? 0 : kExitWrongResults;

  if (!settings.timelinePath.empty()) {
    auto breakdown = readTimelineBreakdown(settings.timelinePath, workloadTensorPrefix(workload));
    if (breakdown) {
      result.breakdown = *breakdown;
    } else {
      KOLO_LOG(kWarning, "bench", "no timeline breakdown: {}", breakdown.status().toString());
    }
  }
  printOnRankZero(comm, formatWorkloadReport(result, hosts, transport));
  if (!options.jsonPath.empty()) {
    KOLO_RETURN_IF_ERROR(writeTextFile(options.jsonPath, workloadJson(result).dump(2) + "\n"));
  }
  return result.wrong == 0 ? 0 : kExitWrongResults;
}

// Which column groups run, in order: out of place first, as nccl-tests prints them.
std::vector<bool> sidesToRun(const BenchOptions& options) {
  std::vector<bool> inPlace;
  if (options.placement != Placement::kInPlace && hasOutOfPlace(options.collective)) {
    inPlace.push_back(false);
  }
  if (options.placement != Placement::kOutOfPlace) inPlace.push_back(true);
  return inPlace;
}

// Rank 0 compares the written JSON with --baseline; the text goes to stdout.
Expected<bool> checkBaseline(const BenchOptions& options, const nlohmann::json& current) {
  KOLO_ASSIGN_OR_RETURN(nlohmann::json baseline, readJsonFile(options.baselinePath));
  auto check = compareWithBaseline(current, baseline, options.maxRegressPercent);
  if (!check) return check.status().withContext(fmt::format("--baseline {}", options.baselinePath));
  std::string text = formatBaselineCheck(*check, options.baselinePath, options.maxRegressPercent);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  return check->regressions.empty();
}

// --algo: the registry's algorithm for the swept collective (null: auto, chosen per size, see
// algorithmForSize). Resolved before connecting, so a bad name fails at once.
Expected<const coll::AlgorithmEntry*> resolveAlgorithm(const BenchOptions& options) {
  auto algorithm =
      coll::resolveAlgorithm(collectiveKind(options.collective), options.algorithmName);
  if (!algorithm) return algorithm.status().withContext("--algo");
  return *algorithm;
}

// The name of the algorithm an allreduce of `bytes` runs with, as the preamble prints it.
std::string algorithmForSize(const Communicator& comm, const coll::AlgorithmEntry* algorithm,
                             uint64_t bytes) {
  const coll::AlgorithmEntry& chosen =
      algorithm != nullptr ? *algorithm
                           : coll::selectAlgorithm(comm, coll::CollectiveKind::kAllreduce, bytes);
  return std::string(chosen.name);
}

// --topology: rank 0 prints the report; every rank then meets at a barrier.
Expected<int> runTopologyMode(World& world) {
  KOLO_ASSIGN_OR_RETURN(
      std::string report,
      gatherTopologyReport(*world.comm, settingText(protocol::kEnvHostname).value_or("")));
  printOnRankZero(*world.comm, report);
  KOLO_RETURN_IF_ERROR(coll::barrier(*world.comm).withContext("final barrier"));
  return 0;
}

// What the preamble, the rows and the JSON describe: the options, this world and its machine.
// Collective (host names and the topology are gathered).
Expected<RunInfo> describeRun(const BenchOptions& options, Communicator& comm,
                              const std::string& hostKey, const coll::AlgorithmEntry* algorithm,
                              const std::vector<SizeShape>& shapes) {
  RunInfo info;
  info.collective = options.collective;
  info.dtype = options.dtype;
  info.op = options.op;
  info.root = options.root;
  info.worldSize = comm.size();
  info.machine = probeMachine();
  KOLO_ASSIGN_OR_RETURN(info.hosts, gatherHosts(comm, hostKey));
  info.transport = comm.transport().name();
  KOLO_ASSIGN_OR_RETURN(info.topologyText, topologyBlock(comm));
  info.kernelVariant = reduceKernelVariant();
  info.algorithmRequest = options.algorithmName;
  info.placement = options.placement;
  info.iterationsText = iterationsText(options);
  info.checkEveryIteration = options.checkEveryIteration;
  info.compareMpi = options.compareMpi;
  info.bound = options.bound;
  info.path = options.path;
  if (options.collective == Collective::kAllreduce) {
    for (const auto& shape : shapes) {
      info.algorithmBySize.emplace_back(shape.bytes,
                                        algorithmForSize(comm, algorithm, shape.bytes));
    }
  }
  return info;
}

// Where each size runs: the collective called directly, or (--path runtime) a session that
// owns the communicator until the run ends.
struct SweepTarget {
  Communicator& comm;
  CollectiveBench& bench;
  const Session* session = nullptr;
  MpiJob* mpi = nullptr;  // --compare mpi
};

// Every size of the sweep, each side (out of place, in place) in turn; rank 0 prints a row as
// soon as it is measured.
Expected<std::vector<RowResult>> runSweep(const BenchOptions& options, const RunInfo& info,
                                          const std::vector<SizeShape>& shapes,
                                          SweepTarget target) {
  const std::vector<bool> sides = sidesToRun(options);
  // Open MPI runs once per size, next to the side it is compared with (see peerSide).
  const bool preferInPlace =
      options.collective == Collective::kAllreduce || options.collective == Collective::kBroadcast;
  const bool mpiInPlace = preferInPlace ? sides.back() : sides.front();
  std::vector<RowResult> rows;
  for (const auto& shape : shapes) {
    SizePlan plan{shape, warmupIterationsFor(options, shape.bytes),
                  timedIterationsFor(options, shape.bytes), options.checkEveryIteration};
    RowResult row;
    row.shape = shape;
    for (bool inPlace : sides) {
      target.bench.setInPlace(inPlace);
      MpiJob* peer = inPlace == mpiInPlace ? target.mpi : nullptr;
      Expected<SideResult> measured =
          target.session != nullptr
              ? runRuntimeSize(*target.session, target.bench, plan, kHandleTimeoutSeconds, peer)
              : runSize(target.comm, target.bench, plan, peer);
      if (!measured) {
        return measured.status().withContext(
            fmt::format("{} B {}", shape.bytes, inPlace ? "in place" : "out of place"));
      }
      (inPlace ? row.inPlace : row.outOfPlace) = measured->kolo;
      if (measured->mpi) row.mpi = measured->mpi;
    }
    if (options.bound) {
      KOLO_ASSIGN_OR_RETURN(row.boundUs, measureBound(target.comm, options.collective, plan));
    }
    rows.push_back(row);
    printOnRankZero(target.comm, formatRow(info, row));
  }
  return rows;
}

// Rank 0 writes --json and --csv and checks --baseline; true when the baseline check found a
// regression. Run before the final barrier but reported after it, so a failure on rank 0 does
// not leave the other ranks waiting for it.
Expected<bool> writeResults(const BenchOptions& options, const RunInfo& info,
                            const std::vector<RowResult>& rows) {
  const nlohmann::json json = toJson(info, rows);
  if (!options.jsonPath.empty()) {
    KOLO_RETURN_IF_ERROR(writeTextFile(options.jsonPath, json.dump(2) + "\n"));
  }
  if (!options.csvPath.empty()) {
    KOLO_RETURN_IF_ERROR(writeTextFile(options.csvPath, toCsv(info, rows)));
  }
  if (options.baselinePath.empty()) return false;
  KOLO_ASSIGN_OR_RETURN(bool passed, checkBaseline(options, json));
  return !passed;
}

Expected<int> runBenchmark(const BenchOptions& options, int* argc, char*** argv) {
  KOLO_ASSIGN_OR_RETURN(const coll::AlgorithmEntry* algorithm, resolveAlgorithm(options));
  KOLO_ASSIGN_OR_RETURN(World world, connect(options, argc, argv));
  if (options.topology) return runTopologyMode(world);
  if (!options.workload.empty()) return runWorkloadMode(options, world);
  Communicator& comm = *world.comm;
  if (options.collective == Collective::kBroadcast && options.root >= comm.size()) {
    return makeStatus(Code::kInvalidArgument, "-r {} is not a rank of this world of {}",
                      options.root, comm.size());
  }
  const std::vector<SizeShape> shapes = shapedSweep(options, comm.size());
  KOLO_ASSIGN_OR_RETURN(RunInfo info, describeRun(options, comm, world.hostKey, algorithm, shapes));
  printOnRankZero(comm, formatPreamble(info) + formatTableHeader(info));

  const uint64_t maxBytes = shapes.empty() ? 0 : shapes.back().bytes;
  KOLO_ASSIGN_OR_RETURN(
      std::unique_ptr<CollectiveBench> bench,
      CollectiveBench::create(OpConfig{options.collective, options.dtype, options.op, options.root,
                                       options.algorithmName, comm.rank(), comm.size(), false},
                              maxBytes));
  Session session;
  if (options.path == BenchPath::kRuntime) {
    KOLO_ASSIGN_OR_RETURN(session, openBenchSession(world.comm));
  }
  SweepTarget target{comm, *bench, session.valid() ? &session : nullptr,
                     options.compareMpi ? world.mpi.get() : nullptr};
  KOLO_ASSIGN_OR_RETURN(std::vector<RowResult> rows, runSweep(options, info, shapes, target));
  printOnRankZero(comm, formatSummary(info, rows));

  const uint64_t wrong = wrongElements(rows);
  Expected<bool> regressed = false;
  if (comm.rank() == 0) regressed = writeResults(options, info, rows);
  if (session.valid()) {
    // The session's shutdown agrees with every rank, so it is the final barrier.
    KOLO_RETURN_IF_ERROR(session.shutdown().withContext("shutting the Engine down"));
  } else {
    KOLO_RETURN_IF_ERROR(coll::barrier(comm).withContext("final barrier"));
  }
  KOLO_RETURN_IF_ERROR(regressed.status());
  if (wrong != 0) return kExitWrongResults;
  return *regressed ? kExitRegression : 0;
}

// kolo-bench sendrecv [--pingpong]: point-to-point through a session (sendrecv_bench.h).
Expected<int> runSendRecvMode(const SendRecvOptions& options, int* argc, char*** argv) {
  KOLO_ASSIGN_OR_RETURN(World world, connect(BenchOptions{}, argc, argv));
  const std::string preamble =
      fmt::format("# kolo-bench sendrecv: {} ranks, transport {}, path runtime (Session::send/recv)\n",
                  world.comm->size(), world.comm->transport().name());
  KOLO_ASSIGN_OR_RETURN(Session session, openBenchSession(world.comm));
  KOLO_ASSIGN_OR_RETURN(uint64_t wrong, runSendRecv(session, options, preamble));
  KOLO_RETURN_IF_ERROR(session.shutdown().withContext("shutting the Engine down"));
  return wrong == 0 ? 0 : kExitWrongResults;
}

}  // namespace
}  // namespace kolo::bench

namespace kolo::bench {
namespace {

// One mode of kolo-bench: parse its options (or print its help), run it, report a failure.
template <typename Parse, typename Run>
int runMode(Parse parse, Run run, int argc, char** argv) {
  auto options = parse(argc, argv);
  if (!options) {
    std::fprintf(stderr, "kolo-bench: %s\n", options.status().toString().c_str());
    return kExitError;
  }
  if (options->helpRequested) {
    std::fputs(options->helpText.c_str(), stdout);
    return 0;
  }
  auto result = run(*options, &argc, &argv);
  if (!result) {
    std::fprintf(stderr, "kolo-bench: %s\n", result.status().toString().c_str());
    return kExitError;
  }
  return *result;
}

}  // namespace
}  // namespace kolo::bench

int main(int argc, char** argv) try {
  using namespace kolo::bench;
  if (argc > 1 && std::strcmp(argv[1], "sendrecv") == 0) {
    return runMode([](int c, char** v) { return parseSendRecvOptions(c, v); },
                   [](const auto& o, int* c, char*** v) { return runSendRecvMode(o, c, v); },
                   argc, argv);
  }
  return runMode([](int c, char** v) { return parseBenchOptions(c, v); },
                 [](const auto& o, int* c, char*** v) { return runBenchmark(o, c, v); }, argc,
                 argv);
} catch (const std::exception& e) {
  // Only library code can throw here (the standard library, CLI11's help formatting).
  std::fprintf(stderr, "kolo-bench: %s\n", e.what());
  return 2;
}
