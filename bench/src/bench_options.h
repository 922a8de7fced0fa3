// Command line of kolo-bench: which collective, the size sweep, iterations, dtype/op, output
// files and the MPI comparison. Pure: parsing and sweep generation touch no communicator, so
// they are unit-tested alone.
// Thread: main thread, before any communication.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/algorithm_policy.h"
#include "kolo/collectives/dtype.h"

namespace kolo::bench {

enum class Collective { kAllreduce, kAllgather, kBroadcast, kReduceScatter, kAlltoall };

// raw: the collective algorithm called directly on the communicator. runtime: every call is a
// named tensor submitted to the Engine (negotiation, response cache, fusion, handle wait).
enum class BenchPath { kRaw, kRuntime };
std::string_view benchPathName(BenchPath path);

std::string_view collectiveName(Collective c);
// The algorithm registry's name for the same collective.
coll::CollectiveKind collectiveKind(Collective c);
std::optional<Collective> parseCollective(std::string_view name);
// Whether the collective combines values (and so has a meaningful redop column).
bool collectiveReduces(Collective c);
// Whether Kolo has an out-of-place form of the collective (broadcast has one buffer).
bool hasOutOfPlace(Collective c);

// Which of nccl-tests' two column groups a run measures (--inplace).
enum class Placement { kBoth, kOutOfPlace, kInPlace };

// --sweep-fusion's default grid: fusion thresholds (bytes) and coordinator cycle times (ms).
inline constexpr uint64_t kSweepFusionThresholds[] = {0,
                                                      uint64_t{1} << 20,
                                                      uint64_t{4} << 20,
                                                      uint64_t{16} << 20,
                                                      uint64_t{64} << 20,
                                                      uint64_t{128} << 20};
inline constexpr double kSweepCycleTimesMs[] = {0.5, 1.0, 5.0};

// Sizes above this run fewer iterations by default (see defaultIterationsFor).
inline constexpr uint64_t kLargeSizeBytes = uint64_t{64} << 20;
inline constexpr int kDefaultIterations = 20;
inline constexpr int kDefaultWarmup = 5;

struct BenchOptions {
  Collective collective = Collective::kAllreduce;
  uint64_t minBytes = 8;
  uint64_t maxBytes = uint64_t{128} << 20;
  double stepFactor = 2.0;        // -f: multiply each size by this
  uint64_t stepBytes = 0;         // -i: add this instead (wins over -f when non-zero)
  std::optional<int> iterations;  // -n; unset: kDefaultIterations, fewer for large sizes
  std::optional<int> warmup;      // -w; unset: kDefaultWarmup, fewer for large sizes
  DataType dtype = DataType::kFloat32;
  ReduceOp op = ReduceOp::kSum;
  int root = 0;
  // --algo as typed; main resolves it with coll::resolveAlgorithm (the registry owns
  // the names), so a typo fails before any size runs.
  std::string algorithmName = "auto";
  bool checkEveryIteration = false;
  // Out-of-place and in-place columns side by side (nccl-tests), or only one of them.
  Placement placement = Placement::kBoth;
  std::string jsonPath;
  std::string csvPath;
  bool compareMpi = false;
  // --bound: also time this machine's memory floor at each size (bench_bound.h).
  bool bound = false;
  // --baseline FILE.json: an earlier --json of the same collective; a size whose busbw fell
  // more than maxRegressPercent below it fails the run.
  std::string baselinePath;
  double maxRegressPercent = 10.0;
  BenchPath path = BenchPath::kRaw;  // --path; runtime supports allreduce only
  // --workload: a built-in name (resnet50, bert-base) or a workload file; empty: size sweep.
  std::string workload;
  // --mode (with --workload): "allreduce" (the default) or "sharded" (sharded_workload.h).
  std::string workloadMode = "allreduce";
  // --sweep-fusion (workload mode): one Engine per (threshold, cycle time) setting.
  bool sweepFusion = false;
  bool autotune = false;                  // with --workload: default vs KOLO_AUTOTUNE step
  std::vector<uint64_t> sweepThresholds;  // --sweep-thresholds; empty: kSweepFusionThresholds
  std::vector<double> sweepCycleTimesMs;  // --sweep-cycles; empty: kSweepCycleTimesMs
  // --topology: print the host's hardware and where every rank is bound, then exit.
  bool topology = false;
  bool helpRequested = false;  // --help was given; helpText holds what to print
  std::string helpText;
};

// Parses argv (argv[0] is the program name). A malformed argument is kInvalidArgument naming
// the option and the value; --help returns options with helpRequested set.
Expected<BenchOptions> parseBenchOptions(int argc, const char* const* argv);

// Timed and warmup iterations for one size: the explicit -n / -w when given; otherwise the
// defaults, scaled down above kLargeSizeBytes so one huge size costs about as much as 64 MiB
// (at least 5 timed iterations and 1 warmup).
int timedIterationsFor(const BenchOptions& options, uint64_t bytes);
int warmupIterationsFor(const BenchOptions& options, uint64_t bytes);

// minBytes, then repeatedly *stepFactor (or +stepBytes) while <= maxBytes. A factor that
// does not grow a size (e.g. 8 * 1.1 floors back to 8) still advances by one byte.
std::vector<uint64_t> sizeSweep(uint64_t minBytes, uint64_t maxBytes, double stepFactor,
                                uint64_t stepBytes);

// One row's shape: total bytes per rank and element count, as nccl-tests reports them.
struct SizeShape {
  uint64_t bytes = 0;  // count * dtype size
  size_t count = 0;    // elements in the full buffer (allgather: the gathered result)
};

// Rounds `bytes` down to whole elements; for allgather, reducescatter and alltoall also to a
// multiple of worldSize elements, so every rank's block is the same size.
SizeShape shapeFor(Collective c, DataType type, int worldSize, uint64_t bytes);

// The sweep after shaping, with consecutive duplicates (several sizes rounding to the same
// shape) removed.
std::vector<SizeShape> shapedSweep(const BenchOptions& options, int worldSize);

}  // namespace kolo::bench
