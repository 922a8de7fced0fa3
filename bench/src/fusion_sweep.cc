#include "fusion_sweep.h"

#include <fmt/format.h>

#include <algorithm>

#include "bench_report.h"

namespace kolo::bench {
namespace {

double gbPerSecond(uint64_t bytes, double ms) {
  return ms > 0.0 ? static_cast<double>(bytes) / (ms * 1e6) : 0.0;
}

}  // namespace

std::vector<FusionSetting> fusionGrid(std::span<const uint64_t> thresholds,
                                      std::span<const double> cycleTimesMs) {
  std::vector<FusionSetting> grid;
  for (uint64_t threshold : thresholds) {
    for (double cycle : cycleTimesMs) grid.push_back(FusionSetting{threshold, cycle});
  }
  return grid;
}

Expected<FusionSweepResult> runFusionSweep(const std::shared_ptr<Communicator>& world,
                                           const BenchSessionConfig& base, const Workload& workload,
                                           const WorkloadOptions& options,
                                           std::span<const FusionSetting> grid) {
  FusionSweepResult result;
  result.workload = workload.name;
  result.tensors = workload.tensors.size();
  result.bytes = workload.totalBytes();
  result.worldSize = world->size();
  result.iterations = options.iterations;
  result.warmup = options.warmup;
  for (const FusionSetting& setting : grid) {
    BenchSessionConfig config = base;
    config.session.fusionThresholdBytes = setting.thresholdBytes;
    config.cycleTimeMs = setting.cycleTimeMs;
    config.session.timelinePath = std::string();  // off
    const std::string label = fmt::format("fusion threshold {} B, cycle time {} ms",
                                          setting.thresholdBytes, setting.cycleTimeMs);
    KOLO_ASSIGN_OR_RETURN(Session session, openBenchSession(world, config));
    auto measured = runWorkload(session, workload, options, nullptr);
    // Shut down even after a failure, so the other ranks are not left waiting on this one.
    Status stopped = session.shutdown();
    if (!measured) return measured.status().withContext(label);
    KOLO_RETURN_IF_ERROR(stopped.withContext(label));
    result.largeTensorBytes = measured->largeTensorBytes;  // the same in every setting
    result.points.push_back(FusionSweepPoint{setting, measured->kolo, measured->wrong});
  }
  return result;
}

size_t bestFusionPoint(std::span<const FusionSweepPoint> points) {
  size_t best = 0;
  for (size_t i = 1; i < points.size(); ++i) {
    if (points[i].times.medianMs < points[best].times.medianMs) best = i;
  }
  return best;
}

uint64_t fusionSweepWrong(const FusionSweepResult& result) {
  uint64_t wrong = 0;
  for (const auto& p : result.points) wrong += p.wrong;
  return wrong;
}

std::string formatFusionSweep(const FusionSweepResult& r, const std::string& hosts,
                              const std::string& transport) {
  std::string out = fmt::format(
      "# kolo-bench fusion sweep, workload {}: {} float32 tensors ({:.1f} MB) per rank\n"
      "# {} ranks on {}; transport {}; {} timed + {} warmup steps per setting, a fresh Engine "
      "each; tensors from {} always run in place\n"
      "# the cycle time only bounds how long an idle coordinator parks when the transport "
      "cannot wake it (shm and tcp can), so equal times across it are expected\n#\n",
      r.workload, r.tensors, static_cast<double>(r.bytes) / 1e6, r.worldSize, hosts, transport,
      r.iterations, r.warmup, formatBytes(r.largeTensorBytes));
  out += fmt::format("# {:>16} {:>11} {:>11} {:>10} {:>9} {:>9} {:>7}\n", "fusion threshold",
                     "cycle(ms)", "median(ms)", "p99(ms)", "GB/s", "x best", "#wrong");
  if (r.points.empty()) return out + "# no settings measured\n";
  const size_t best = bestFusionPoint(r.points);
  const double bestMs = r.points[best].times.medianMs;
  for (size_t i = 0; i < r.points.size(); ++i) {
    const auto& p = r.points[i];
    out += fmt::format("  {:>16} {:>11.3g} {:>11.2f} {:>10.2f} {:>9.2f} {:>9.2f} {:>7}{}\n",
                       p.setting.thresholdBytes == 0 ? std::string("0 (off)")
                                                     : formatBytes(p.setting.thresholdBytes),
                       p.setting.cycleTimeMs, p.times.medianMs, p.times.p99Ms,
                       gbPerSecond(r.bytes, p.times.medianMs),
                       bestMs > 0.0 ? p.times.medianMs / bestMs : 0.0, p.wrong,
                       i == best ? "  <- best" : "");
  }
  const auto& b = r.points[best];
  out += fmt::format(
      "# best : KOLO_FUSION_THRESHOLD={} KOLO_CYCLE_TIME={} ({:.2f} ms per step, {:.2f} GB/s)\n",
      b.setting.thresholdBytes, b.setting.cycleTimeMs, b.times.medianMs,
      gbPerSecond(r.bytes, b.times.medianMs));
  const uint64_t wrong = fusionSweepWrong(r);
  out += fmt::format("# Out of bounds values : {} {}\n", wrong, wrong == 0 ? "OK" : "FAILED");
  return out;
}

nlohmann::json fusionSweepJson(const FusionSweepResult& r) {
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : r.points) {
    points.push_back({{"fusion_threshold_bytes", p.setting.thresholdBytes},
                      {"cycle_time_ms", p.setting.cycleTimeMs},
                      {"median_ms", p.times.medianMs},
                      {"p99_ms", p.times.p99Ms},
                      {"min_ms", p.times.minMs},
                      {"gbps", gbPerSecond(r.bytes, p.times.medianMs)},
                      {"wrong", p.wrong}});
  }
  nlohmann::json j{{"benchmark", "kolo-bench"},
                   {"kind", "fusion_sweep"},
                   {"workload", r.workload},
                   {"tensors", r.tensors},
                   {"bytes", r.bytes},
                   {"world_size", r.worldSize},
                   {"iterations", r.iterations},
                   {"warmup", r.warmup},
                   {"large_tensor_bytes", r.largeTensorBytes},
                   {"points", points},
                   {"wrong", fusionSweepWrong(r)}};
  if (!r.points.empty()) {
    const auto& b = r.points[bestFusionPoint(r.points)];
    j["best"] = {{"fusion_threshold_bytes", b.setting.thresholdBytes},
                 {"cycle_time_ms", b.setting.cycleTimeMs},
                 {"median_ms", b.times.medianMs}};
  }
  return j;
}

}  // namespace kolo::bench
