// `kolo-bench --workload W --autotune`: the workload's step with the configured settings and
// with KOLO_AUTOTUNE, in one run on one world: an autotuned session runs the tuner's step bound
// untimed (it has settled by then) and times its steps, then a default session runs as many
// untimed steps and times the same number. Both medians, and their ratio, are printed; tuned can be slower (the
// tuner scores rank 0's bytes per second over few steps, and noise can mislead it).
// Thread: the caller's (main) thread.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "kolo/base/status.h"
#include "workload.h"
#include "workload_bench.h"

namespace kolo {
class Communicator;
}

namespace kolo::bench {

struct AutotuneComparison {
  WorkloadResult defaults;
  WorkloadResult tuned;
  int64_t tuningSteps = 0;  // untimed steps the tuned session ran first
};

Expected<AutotuneComparison> runAutotuneComparison(const std::shared_ptr<Communicator>& world,
                                                   const Workload& workload,
                                                   const WorkloadOptions& options);
std::string formatAutotuneComparison(const AutotuneComparison& c, const std::string& hosts,
                                     const std::string& transport);
nlohmann::json autotuneComparisonJson(const AutotuneComparison& c);

}  // namespace kolo::bench
