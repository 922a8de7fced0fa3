// What kolo-bench prints and writes: the preamble, the nccl-tests style table, the summary
// lines, and the same rows as JSON and CSV. Pure formatting over plain structs, so every byte
// of the output is unit-tested without a communicator.
// Thread: rank 0's main thread (only rank 0 reports).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bench_options.h"
#include "kolo/base/status.h"

// Output columns, in nccl-tests' terms:
//   algbw = bytes / time; busbw = algbw * busBandwidthFactor (bench_stats.h), comparable with
//   the hardware's bandwidth whatever the collective and the number of ranks.

namespace kolo::bench {

struct MachineInfo {
  std::string hostname;
  std::string cpuModel;
  int cores = 0;
  std::string os;  // "Linux 6.1.0 x86_64"
};
// Reads this machine's identity (gethostname, /proc/cpuinfo, uname).
MachineInfo probeMachine();

struct RunInfo {
  Collective collective = Collective::kAllreduce;
  DataType dtype = DataType::kFloat32;
  ReduceOp op = ReduceOp::kSum;
  int root = 0;
  int worldSize = 1;
  std::vector<std::string> hosts;  // per rank
  std::string transport;
  // The preamble's transport and topology lines ("# "-prefixed, see topology_bench.h); empty:
  // a plain transport line. Also written to --json as "topology".
  std::string topologyText;
  std::string kernelVariant;
  std::string algorithmRequest = "auto";  // --algo
  // The allreduce algorithm each size runs (allreduce only; empty otherwise).
  std::vector<std::pair<uint64_t, std::string>> algorithmBySize;
  std::string iterationsText;  // "20 timed + 5 warmup per size"
  bool checkEveryIteration = false;
  Placement placement = Placement::kBoth;  // which column groups were measured
  bool compareMpi = false;
  bool bound = false;  // --bound: the bound_us and bound columns
  BenchPath path = BenchPath::kRaw;  // --path
  MachineInfo machine;
};

// One column group at one size: per iteration the slowest rank's time, then p50 and p99.
struct Timing {
  double medianUs = 0.0;
  double p99Us = 0.0;
  uint64_t wrong = 0;  // summed over ranks (and over checked iterations)
};

// What measuring one side of one size returns: Kolo's timing and, when comparing, Open
// MPI's (unset with --compare mpi means MPI cannot: f16/bf16, avg).
struct SideResult {
  Timing kolo;
  std::optional<Timing> mpi;
};

// A table row: nccl-tests' out-of-place and in-place groups (unset: not measured, or no such
// form) and the MPI comparison, which is set against peerSide().
struct RowResult {
  SizeShape shape;
  std::optional<Timing> outOfPlace;
  std::optional<Timing> inPlace;
  std::optional<Timing> mpi;
  std::optional<double> boundUs;  // --bound: the memory floor's time (bench_bound.h)
};

// The side Open MPI's call is compared with: in place for allreduce (MPI_IN_PLACE) and
// broadcast, out of place for the others; the other side when that one was not measured.
const Timing* peerSide(const RunInfo& info, const RowResult& row);
// --bound's fraction: the floor's time over the peer side's (= busbw / the floor's busbw).
std::optional<double> boundFraction(const RunInfo& info, const RowResult& row);
// Whether the peer side is the in-place one (the JSON and the header say which).
bool peerIsInPlace(const RunInfo& info, const RowResult& row);

// "8 B", "64 KiB", "1.5 MiB", "256 MiB".
std::string formatBytes(uint64_t bytes);
// "host1 (2 ranks), host2 (1 rank)" in order of first appearance.
std::string summarizeHosts(std::span<const std::string> hosts);
// "rd 8 B..64 KiB, ring 128 KiB..256 MiB": consecutive sizes with one algorithm merge.
std::string summarizeAlgorithms(std::span<const std::pair<uint64_t, std::string>> bySize);

std::string formatPreamble(const RunInfo& info);
std::string formatTableHeader(const RunInfo& info);
std::string formatRow(const RunInfo& info, const RowResult& row);
// Wrong elements over both sides of every row.
uint64_t wrongElements(std::span<const RowResult> rows);
// "# Out of bounds values : N OK|FAILED" (both sides) and "# Avg bus bandwidth : X" (mean
// busbw over every measured side of every row, as nccl-tests averages).
std::string formatSummary(const RunInfo& info, std::span<const RowResult> rows);

nlohmann::json toJson(const RunInfo& info, std::span<const RowResult> rows);
std::string toCsv(const RunInfo& info, std::span<const RowResult> rows);

// Writes `content` to `path`, replacing it; kIoError naming the path and errno text.
Status writeTextFile(const std::string& path, std::string_view content);

}  // namespace kolo::bench
