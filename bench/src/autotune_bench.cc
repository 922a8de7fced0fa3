#include "autotune_bench.h"

#include <fmt/format.h>

#include "kolo/bench_interface.h"
#include "kolo/collectives/communicator.h"

namespace kolo::bench {
namespace {

// One session with `config`, shut down even after a failure so the other ranks are not left
// waiting on this one.
Expected<WorkloadResult> timeSession(const std::shared_ptr<Communicator>& world,
                                     const BenchSessionConfig& config, const Workload& workload,
                                     WorkloadOptions options, int64_t* tuningSteps) {
  KOLO_ASSIGN_OR_RETURN(Session session, openBenchSession(world, config));
  auto settings = benchSessionSettings(session);
  if (!settings) return settings.status();
  if (tuningSteps != nullptr) {
    *tuningSteps = settings->autotuneStepBound;
    options.warmup += static_cast<int>(settings->autotuneStepBound);
  }
  auto measured = runWorkload(session, workload, options, nullptr);
  Status stopped = session.shutdown();
  if (!measured) return measured.status();
  KOLO_RETURN_IF_ERROR(stopped);
  return measured;
}

}  // namespace

Expected<AutotuneComparison> runAutotuneComparison(const std::shared_ptr<Communicator>& world,
                                                   const Workload& workload,
                                                   const WorkloadOptions& options) {
  AutotuneComparison c;
  BenchSessionConfig config;
  config.session.timelinePath = std::string();  // off: the timeline would cost both the same
  // The tuned session first: its step bound is then known, and the default session runs as many
  // untimed steps, so neither profits from a warmer machine.
  config.autotune = true;
  auto tuned = timeSession(world, config, workload, options, &c.tuningSteps);
  if (!tuned) return tuned.status().withContext("the autotuned session");
  c.tuned = std::move(tuned.value());
  config.autotune = false;
  WorkloadOptions same = options;
  same.warmup += static_cast<int>(c.tuningSteps);
  auto defaults = timeSession(world, config, workload, same, nullptr);
  if (!defaults) return defaults.status().withContext("the default session");
  c.defaults = std::move(defaults.value());
  return c;
}

std::string formatAutotuneComparison(const AutotuneComparison& c, const std::string& hosts,
                                     const std::string& transport) {
  const WorkloadResult& d = c.defaults;
  std::string out = fmt::format(
      "# kolo-bench autotune, workload {}: {} float32 tensors ({:.1f} MB) per rank\n"
      "# np={} on {}, transport {}; {} timed steps each\n",
      d.workload, d.tensors, static_cast<double>(d.bytes) / 1e6, d.worldSize, hosts, transport,
      d.iterations);
  out += fmt::format("# default : median {:8.3f} ms  p99 {:8.3f} ms  (fusion threshold {} B)\n",
                     d.kolo.medianMs, d.kolo.p99Ms, d.fusionThresholdBytes);
  out += fmt::format(
      "# tuned   : median {:8.3f} ms  p99 {:8.3f} ms  (after {} untimed tuning steps, as many "
      "untimed for default; KOLO_LOG_LEVEL=info or KOLO_AUTOTUNE_LOG shows the choice)\n",
      c.tuned.kolo.medianMs, c.tuned.kolo.p99Ms, c.tuningSteps);
  const double ratio = d.kolo.medianMs > 0 ? c.tuned.kolo.medianMs / d.kolo.medianMs : 0.0;
  out += fmt::format("# tuned / default : {:.3f} ({})\n", ratio,
                     ratio <= 1.0 ? "tuned is faster or equal" : "tuned is SLOWER");
  if (d.wrong + c.tuned.wrong != 0) {
    out +=
        fmt::format("# WRONG RESULTS: {} elements (default), {} (tuned)\n", d.wrong, c.tuned.wrong);
  }
  return out;
}

nlohmann::json autotuneComparisonJson(const AutotuneComparison& c) {
  return {
      {"workload", c.defaults.workload},          {"world_size", c.defaults.worldSize},
      {"iterations", c.defaults.iterations},      {"default_median_ms", c.defaults.kolo.medianMs},
      {"default_p99_ms", c.defaults.kolo.p99Ms},  {"tuned_median_ms", c.tuned.kolo.medianMs},
      {"tuned_p99_ms", c.tuned.kolo.p99Ms},       {"tuning_steps", c.tuningSteps},
      {"wrong", c.defaults.wrong + c.tuned.wrong}};
}

}  // namespace kolo::bench
