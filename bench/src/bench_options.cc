#include "bench_options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>

#include "kolo/base/env.h"
#include "kolo/collectives/algorithm_registry.h"

namespace kolo::bench {
namespace {

constexpr Collective kAllCollectives[] = {Collective::kAllreduce, Collective::kAllgather,
                                          Collective::kBroadcast, Collective::kReduceScatter,
                                          Collective::kAlltoall};

constexpr const char* kDescription =
    "kolo-bench: nccl-tests style sweep of one Kolo collective.\n"
    "Run under kolorun (kolorun -np 2 kolo-bench allreduce -b 8 -e 256M -f 4), or under\n"
    "mpirun to add --compare mpi; started alone it is a world of one rank. Only rank 0\n"
    "prints. --compare mpi times Open MPI on the same buffers after Kolo at every size\n"
    "(allreduce with MPI_IN_PLACE; float16, bfloat16 and avg have no MPI form: n/a).\n"
    "size is the full buffer per rank (allgather: the gathered result); the time is the\n"
    "median over iterations of the slowest rank's time for that iteration. #wrong counts\n"
    "wrong elements over every checked call and rank; any makes the exit status 1.\n"
    "Without -n/-w, sizes above 64 MiB run proportionally fewer iterations (at least 5\n"
    "timed, 1 warmup) so a sweep to GiB sizes stays short.\n"
    "--path runtime submits every allreduce as a named tensor through the Kolo runtime\n"
    "(submit -> negotiation/cache -> fusion -> collective -> handle ready). --workload\n"
    "resnet50|bert-base|FILE replays a model's gradients (allreduce avg, backward order)\n"
    "through the runtime, one step per iteration; with --compare mpi also Open MPI per\n"
    "tensor and over one packed buffer; --mode sharded instead reduce-scatters every\n"
    "gradient and allgathers every parameter shard (ZeRO/FSDP traffic; MPI: Reduce_scatter_\n"
    "block + Allgather). --sweep-fusion replays it once per fusion threshold\n"
    "and coordinator cycle time (a fresh Engine each) and prints the fastest setting.\n"
    "Every size runs out of place, then in place (nccl-tests' two column groups); time is\n"
    "the median (p50), p99 the 99th percentile. Exit status: 0 on success, 1 on a wrong\n"
    "element, 2 on an error, 3 when --baseline finds a size whose busbw fell more than\n"
    "--max-regress percent below the earlier --json file.";

Expected<uint64_t> parseSizeOption(const std::string& option, const std::string& text) {
  auto bytes = parseByteSize(text);
  if (!bytes) {
    return makeStatus(Code::kInvalidArgument,
                      "{} '{}' is not a byte size (expected e.g. 8, 64K, 256M, 1G)", option, text);
  }
  return *bytes;
}

// --algo's help, from the algorithm registry: every collective's algorithm names.
std::string algorithmHelp() {
  std::string text = "algorithm of the collective (raw path): auto, or";
  for (coll::CollectiveKind kind : coll::kAllCollectiveKinds) {
    if (kind == coll::CollectiveKind::kBarrier) continue;
    text += fmt::format(" {} {};", coll::collectiveName(kind), coll::algorithmNames(kind));
  }
  text.pop_back();
  return text;
}

}  // namespace

std::string_view benchPathName(BenchPath path) {
  return path == BenchPath::kRuntime ? "runtime" : "raw";
}

coll::CollectiveKind collectiveKind(Collective c) {
  switch (c) {
    case Collective::kAllreduce:
      return coll::CollectiveKind::kAllreduce;
    case Collective::kAllgather:
      return coll::CollectiveKind::kAllgather;
    case Collective::kBroadcast:
      return coll::CollectiveKind::kBroadcast;
    case Collective::kReduceScatter:
      return coll::CollectiveKind::kReduceScatter;
    case Collective::kAlltoall:
      return coll::CollectiveKind::kAlltoall;
  }
  return coll::CollectiveKind::kAllreduce;
}

std::string_view collectiveName(Collective c) {
  switch (c) {
    case Collective::kAllreduce:
      return "allreduce";
    case Collective::kAllgather:
      return "allgather";
    case Collective::kBroadcast:
      return "broadcast";
    case Collective::kReduceScatter:
      return "reducescatter";
    case Collective::kAlltoall:
      return "alltoall";
  }
  return "unknown";
}

std::optional<Collective> parseCollective(std::string_view name) {
  std::string n = toLower(name);
  for (Collective c : kAllCollectives) {
    if (n == collectiveName(c)) return c;
  }
  if (n == "reduce_scatter" || n == "reduce-scatter") return Collective::kReduceScatter;
  if (n == "bcast") return Collective::kBroadcast;
  return std::nullopt;
}

bool hasOutOfPlace(Collective c) {
  return c != Collective::kBroadcast;
}

bool collectiveReduces(Collective c) {
  return c == Collective::kAllreduce || c == Collective::kReduceScatter;
}

namespace {

// The command line as typed, before it is checked and turned into BenchOptions (options that
// need no check are parsed straight into BenchOptions).
struct CommandLine {
  std::string collective = "allreduce";
  std::string minBytes = "8";
  std::string maxBytes = "128M";
  std::string stepBytes = "0";
  std::string dtype = "float32";
  std::string op = "sum";
  std::string algo = "auto";
  std::string compare;
  std::string path = "raw";
  std::string placement = "both";
  std::vector<std::string> sweepThresholds;
  int iterations = kDefaultIterations;
  int warmup = kDefaultWarmup;
  CLI::Option* iterationsOption = nullptr;  // given: count() > 0
  CLI::Option* warmupOption = nullptr;
};

// What one sweep runs: the collective, its sizes and iterations, its elements and algorithm.
void addSweepOptions(CLI::App& app, CommandLine& line, BenchOptions& options) {
  app.add_option("collective", line.collective,
                 "allreduce | allgather | broadcast | reducescatter | alltoall")
      ->capture_default_str();
  app.add_option("-b,--minbytes", line.minBytes, "smallest size (K/M/G suffixes)")
      ->capture_default_str();
  app.add_option("-e,--maxbytes", line.maxBytes, "largest size (K/M/G suffixes)")
      ->capture_default_str();
  app.add_option("-f,--stepfactor", options.stepFactor, "multiply the size by this each step")
      ->capture_default_str();
  app.add_option("-i,--stepbytes", line.stepBytes, "add this many bytes each step (instead of -f)");
  line.iterationsOption = app.add_option("-n,--iters", line.iterations, "timed iterations per size")
                              ->capture_default_str();
  line.warmupOption =
      app.add_option("-w,--warmup_iters", line.warmup, "untimed iterations per size")
          ->capture_default_str();
  app.add_option("-d,--datatype", line.dtype,
                 "float16 | bfloat16 | float32 | float64 | int8 | uint8 | int32 | int64")
      ->capture_default_str();
  app.add_option("-o,--op", line.op, "sum | avg | min | max | prod")->capture_default_str();
  app.add_option("-r,--root", options.root, "broadcast root")->capture_default_str();
  app.add_option("--algo", line.algo, algorithmHelp())->capture_default_str();
  app.add_option("--inplace", line.placement,
                 "both (out-of-place and in-place columns), 1 (in place only) or 0 (out of "
                 "place only)")
      ->capture_default_str();
  app.add_flag("--bound", options.bound,
               "also time the memory-bandwidth floor at each size (every rank reads its input "
               "and writes its output once, all at once) and print busbw as a fraction of it");
  app.add_flag("-c,--check", options.checkEveryIteration,
               "check every iteration (refilled outside the timed region); the last call of "
               "each size is always checked");
}

// Where results go, what they are compared with, and the other modes (runtime path,
// workloads, topology, fusion sweep).
void addOutputAndModeOptions(CLI::App& app, CommandLine& line, BenchOptions& options) {
  app.add_option("--json", options.jsonPath, "write results as JSON to this file");
  app.add_option("--csv", options.csvPath, "write the result rows as CSV to this file");
  app.add_option("--compare", line.compare,
                 "mpi: also time Open MPI's collective per size (needs mpirun)");
  app.add_option("--path", line.path,
                 "raw (call the algorithm) | runtime (submit through the Engine)")
      ->capture_default_str();
  app.add_option("--workload", options.workload,
                 "resnet50 | bert-base | FILE: replay a model's gradient allreduces");
  app.add_option("--mode", options.workloadMode,
                 "with --workload: allreduce | sharded (reduce-scatter the gradients, allgather "
                 "the parameters)")
      ->check(CLI::IsMember({"allreduce", "sharded"}))
      ->capture_default_str();
  app.add_option("--baseline", options.baselinePath,
                 "earlier --json FILE of the same collective: fail (exit 3) on a busbw regression");
  app.add_option("--max-regress", options.maxRegressPercent,
                 "with --baseline: largest busbw drop allowed, in percent")
      ->capture_default_str();
  app.add_flag("--topology", options.topology,
               "print NUMA nodes, cores, caches, GPUs, NICs and where each rank is bound (hwloc), "
               "then exit");
  app.add_flag("--sweep-fusion", options.sweepFusion,
               "with --workload: replay per fusion threshold x cycle time, print the best");
  app.add_flag("--autotune", options.autotune,
               "with --workload: time the step with the configured settings, then with "
               "KOLO_AUTOTUNE after the tuner settled; print both medians");
  app.add_option("--sweep-thresholds", line.sweepThresholds,
                 "fusion thresholds to sweep (default 0,1M,4M,16M,64M,128M)")
      ->delimiter(',');
  app.add_option("--sweep-cycles", options.sweepCycleTimesMs,
                 "coordinator cycle times in ms to sweep (default 0.5,1,5)")
      ->delimiter(',');
}

// The collective, -b/-e/-i/-f and -n/-w.
Status applySizes(const CommandLine& line, BenchOptions& options) {
  auto c = parseCollective(line.collective);
  if (!c) {
    return makeStatus(Code::kInvalidArgument,
                      "unknown collective '{}' (expected allreduce, allgather, broadcast, "
                      "reducescatter or alltoall)",
                      line.collective);
  }
  options.collective = *c;
  KOLO_ASSIGN_OR_RETURN(options.minBytes, parseSizeOption("-b", line.minBytes));
  KOLO_ASSIGN_OR_RETURN(options.maxBytes, parseSizeOption("-e", line.maxBytes));
  KOLO_ASSIGN_OR_RETURN(options.stepBytes, parseSizeOption("-i", line.stepBytes));
  if (options.minBytes > options.maxBytes) {
    return makeStatus(Code::kInvalidArgument, "-b {} is larger than -e {}", options.minBytes,
                      options.maxBytes);
  }
  if (options.stepBytes == 0 && !(options.stepFactor > 1.0 && std::isfinite(options.stepFactor))) {
    return makeStatus(Code::kInvalidArgument, "-f {} must be a finite factor above 1",
                      options.stepFactor);
  }
  if (line.iterationsOption->count() > 0) {
    if (line.iterations < 1) {
      return makeStatus(Code::kInvalidArgument, "-n {} must be at least 1", line.iterations);
    }
    options.iterations = line.iterations;
  }
  if (line.warmupOption->count() > 0) {
    if (line.warmup < 0) {
      return makeStatus(Code::kInvalidArgument, "-w {} must not be negative", line.warmup);
    }
    options.warmup = line.warmup;
  }
  return Status::ok();
}

// -d, -o, -r and --algo (the name only; main.cc resolves it).
Status applyElements(const CommandLine& line, BenchOptions& options) {
  auto type = parseDataType(line.dtype);
  if (!type) return makeStatus(Code::kInvalidArgument, "unknown datatype '{}'", line.dtype);
  options.dtype = *type;
  auto reduceOp = parseReduceOp(line.op);
  if (!reduceOp) return makeStatus(Code::kInvalidArgument, "unknown reduction op '{}'", line.op);
  options.op = *reduceOp;
  if (options.root < 0) {
    return makeStatus(Code::kInvalidArgument, "-r {} must not be negative", options.root);
  }
  options.algorithmName = toLower(line.algo);
  return Status::ok();
}

// --compare, --path and --inplace, each against the collective.
Status applyPathAndPlacement(const CommandLine& line, BenchOptions& options) {
  if (!line.compare.empty()) {
    if (toLower(line.compare) != "mpi") {
      return makeStatus(Code::kInvalidArgument, "--compare '{}' is not supported (only mpi)",
                        line.compare);
    }
    options.compareMpi = true;
  }
  const std::string pathName = toLower(line.path);
  if (pathName == "runtime") {
    options.path = BenchPath::kRuntime;
  } else if (pathName != "raw") {
    return makeStatus(Code::kInvalidArgument, "--path '{}' is not raw or runtime", line.path);
  }
  if (options.path == BenchPath::kRuntime && options.collective != Collective::kAllreduce) {
    return makeStatus(Code::kInvalidArgument, "--path runtime supports allreduce only, not {}",
                      collectiveName(options.collective));
  }
  if (options.path == BenchPath::kRuntime && options.bound) {
    // The floor's barriers would run on the communicator the runtime's Engine owns.
    return Status(Code::kInvalidArgument, "--bound runs on the raw path only, not --path runtime");
  }
  const std::string placementName = toLower(line.placement);
  if (placementName == "both") {
    options.placement = Placement::kBoth;
  } else if (placementName == "1" || placementName == "in") {
    options.placement = Placement::kInPlace;
  } else if (placementName == "0" || placementName == "out") {
    options.placement = Placement::kOutOfPlace;
  } else {
    return makeStatus(Code::kInvalidArgument, "--inplace '{}' is not both, 1 or 0", line.placement);
  }
  if (options.placement == Placement::kOutOfPlace && !hasOutOfPlace(options.collective)) {
    return makeStatus(Code::kInvalidArgument, "--inplace 0: {} has no out-of-place form",
                      collectiveName(options.collective));
  }
  return Status::ok();
}

// --max-regress, the fusion sweep's lists (defaults when not given) and --workload, which
// always runs on the runtime path.
Status applyBaselineAndWorkload(const CommandLine& line, BenchOptions& options) {
  if (!options.baselinePath.empty() &&
      !(options.maxRegressPercent >= 0.0 && options.maxRegressPercent <= 100.0)) {
    return makeStatus(Code::kInvalidArgument, "--max-regress {} is not a percentage (0..100)",
                      options.maxRegressPercent);
  }
  for (const auto& text : line.sweepThresholds) {
    KOLO_ASSIGN_OR_RETURN(uint64_t bytes, parseSizeOption("--sweep-thresholds", text));
    options.sweepThresholds.push_back(bytes);
  }
  for (double ms : options.sweepCycleTimesMs) {
    if (!(ms > 0.0 && std::isfinite(ms))) {
      return makeStatus(Code::kInvalidArgument, "--sweep-cycles {} must be a positive number of ms",
                        ms);
    }
  }
  if (options.autotune && options.workload.empty()) {
    return makeStatus(Code::kInvalidArgument,
                      "--autotune needs --workload (resnet50, bert-base or a file)");
  }
  if (options.workloadMode != "allreduce" &&
      (options.workload.empty() || options.sweepFusion || options.autotune)) {
    return makeStatus(Code::kInvalidArgument,
                      "--mode {} needs --workload and runs without --sweep-fusion and --autotune",
                      options.workloadMode);
  }
  if (options.sweepFusion && options.workload.empty()) {
    return makeStatus(Code::kInvalidArgument,
                      "--sweep-fusion needs --workload (resnet50, bert-base or a file)");
  }
  if (options.sweepThresholds.empty()) {
    options.sweepThresholds.assign(std::begin(kSweepFusionThresholds),
                                   std::end(kSweepFusionThresholds));
  }
  if (options.sweepCycleTimesMs.empty()) {
    options.sweepCycleTimesMs.assign(std::begin(kSweepCycleTimesMs), std::end(kSweepCycleTimesMs));
  }
  if (!options.workload.empty()) options.path = BenchPath::kRuntime;
  return Status::ok();
}

}  // namespace

Expected<BenchOptions> parseBenchOptions(int argc, const char* const* argv) {
  BenchOptions options;
  CommandLine line;
  CLI::App app(kDescription, "kolo-bench");
  addSweepOptions(app, line, options);
  addOutputAndModeOptions(app, line, options);

  // CLI11 reports through exceptions; this is the program's edge, so they end here.
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    options.helpRequested = true;
    options.helpText = app.help();
    return options;
  } catch (const CLI::ParseError& e) {
    return makeStatus(Code::kInvalidArgument, "{} (see kolo-bench --help)", e.what());
  }
  KOLO_RETURN_IF_ERROR(applySizes(line, options));
  KOLO_RETURN_IF_ERROR(applyElements(line, options));
  KOLO_RETURN_IF_ERROR(applyPathAndPlacement(line, options));
  KOLO_RETURN_IF_ERROR(applyBaselineAndWorkload(line, options));
  return options;
}

int timedIterationsFor(const BenchOptions& options, uint64_t bytes) {
  if (options.iterations) return *options.iterations;
  if (bytes <= kLargeSizeBytes) return kDefaultIterations;
  double scaled = static_cast<double>(kDefaultIterations) * static_cast<double>(kLargeSizeBytes) /
                  static_cast<double>(bytes);
  return std::max(5, static_cast<int>(scaled));
}

int warmupIterationsFor(const BenchOptions& options, uint64_t bytes) {
  if (options.warmup) return *options.warmup;
  if (bytes <= kLargeSizeBytes) return kDefaultWarmup;
  double scaled = static_cast<double>(kDefaultWarmup) * static_cast<double>(kLargeSizeBytes) /
                  static_cast<double>(bytes);
  return std::max(1, static_cast<int>(scaled));
}

std::vector<uint64_t> sizeSweep(uint64_t minBytes, uint64_t maxBytes, double stepFactor,
                                uint64_t stepBytes) {
  std::vector<uint64_t> sizes;
  uint64_t size = minBytes;
  while (true) {
    sizes.push_back(size);
    if (size >= maxBytes) break;
    uint64_t next;
    if (stepBytes > 0) {
      if (stepBytes > maxBytes - size) break;
      next = size + stepBytes;
    } else {
      double grown = std::floor(static_cast<double>(size) * stepFactor);
      if (grown > static_cast<double>(maxBytes)) break;
      next = std::max(static_cast<uint64_t>(grown), size + 1);
    }
    size = next;
  }
  return sizes;
}

SizeShape shapeFor(Collective c, DataType type, int worldSize, uint64_t bytes) {
  const size_t elementSize = dataTypeSize(type);
  auto count = static_cast<size_t>(bytes / elementSize);
  const bool blocked =
      c == Collective::kAllgather || c == Collective::kReduceScatter || c == Collective::kAlltoall;
  if (blocked && worldSize > 0) count -= count % static_cast<size_t>(worldSize);
  return SizeShape{count * elementSize, count};
}

std::vector<SizeShape> shapedSweep(const BenchOptions& options, int worldSize) {
  std::vector<SizeShape> shapes;
  for (uint64_t bytes :
       sizeSweep(options.minBytes, options.maxBytes, options.stepFactor, options.stepBytes)) {
    SizeShape shape = shapeFor(options.collective, options.dtype, worldSize, bytes);
    if (!shapes.empty() && shapes.back().bytes == shape.bytes) continue;
    shapes.push_back(shape);
  }
  return shapes;
}

}  // namespace kolo::bench
