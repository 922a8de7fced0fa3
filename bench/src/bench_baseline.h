// --baseline FILE.json --max-regress PCT: compares this run's busbw, size by size and side by
// side (out of place, in place), with an earlier --json of the same collective, so CI and
// users catch a slowdown without reading tables. Pure over two JSON documents.
// Thread: rank 0's main thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kolo/base/status.h"

namespace kolo::bench {

struct Regression {
  uint64_t bytes = 0;
  std::string side;  // "out-of-place", "in-place"
  double baselineBusbw = 0.0;
  double busbw = 0.0;
  double dropPercent = 0.0;  // how far below the baseline, in percent
};

struct BaselineCheck {
  size_t compared = 0;  // (size, side) pairs present in both runs
  std::vector<Regression> regressions;
};

// `current` and `baseline` are toJson() documents (bench_report.h). Sizes are matched by
// bytes; a side counts when both runs measured it. kInvalidArgument when the baseline is of
// another collective, or when no size of this run is in it (a baseline that checks nothing
// must not pass silently).
Expected<BaselineCheck> compareWithBaseline(const nlohmann::json& current,
                                            const nlohmann::json& baseline,
                                            double maxRegressPercent);

// Reads and parses a JSON file; kUnavailable / kInvalidArgument naming the path.
Expected<nlohmann::json> readJsonFile(const std::string& path);

// One "# Regression : ..." line per regression, then
// "# Baseline FILE : N sizes compared, max regress P% : OK|FAILED".
std::string formatBaselineCheck(const BaselineCheck& check, const std::string& path,
                                double maxRegressPercent);

}  // namespace kolo::bench
