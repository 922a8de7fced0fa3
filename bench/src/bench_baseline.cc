#include "bench_baseline.h"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <sstream>

namespace kolo::bench {
namespace {

constexpr std::pair<const char*, const char*> kSides[] = {{"out_of_place", "out-of-place"},
                                                          {"in_place", "in-place"}};

std::optional<double> busbwOf(const nlohmann::json& side) {
  if (!side.is_object()) return std::nullopt;
  auto it = side.find("busbw");
  if (it == side.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

}  // namespace

Expected<BaselineCheck> compareWithBaseline(const nlohmann::json& current,
                                            const nlohmann::json& baseline,
                                            double maxRegressPercent) {
  if (!baseline.is_object() || !baseline.contains("results") || !baseline["results"].is_array()) {
    return makeStatus(Code::kInvalidArgument,
                      "the baseline is not a kolo-bench sweep (no \"results\" array)");
  }
  const std::string collective = current.value("collective", "");
  const std::string baselineCollective = baseline.value("collective", "");
  if (collective != baselineCollective) {
    return makeStatus(Code::kInvalidArgument,
                      "the baseline measured {}, this run {}: compare runs of one collective",
                      baselineCollective.empty() ? "something else" : baselineCollective,
                      collective);
  }
  std::map<uint64_t, const nlohmann::json*> earlier;
  for (const auto& row : baseline["results"]) {
    if (row.is_object() && row.contains("bytes") && row["bytes"].is_number_integer() &&
        row["bytes"].get<int64_t>() >= 0) {
      earlier[row["bytes"].get<uint64_t>()] = &row;
    }
  }
  BaselineCheck check;
  const double keep = 1.0 - maxRegressPercent / 100.0;
  auto compare = [&](uint64_t bytes, const char* side, double was, double now) {
    ++check.compared;
    if (now >= was * keep) return;
    const double drop = was > 0.0 ? 100.0 * (was - now) / was : 0.0;
    check.regressions.push_back(Regression{bytes, side, was, now, drop});
  };
  for (const auto& row : current.value("results", nlohmann::json::array())) {
    const uint64_t bytes = row.value("bytes", uint64_t{0});
    auto match = earlier.find(bytes);
    if (match == earlier.end()) continue;
    const nlohmann::json& old = *match->second;
    bool sideCompared = false;
    for (const auto& [key, label] : kSides) {
      auto was = busbwOf(old.value(key, nlohmann::json()));
      auto now = busbwOf(row.value(key, nlohmann::json()));
      if (!was || !now) continue;
      compare(bytes, label, *was, *now);
      sideCompared = true;
    }
    // A baseline written before the two column groups existed has one busbw per size.
    if (!sideCompared) {
      auto was = busbwOf(old);
      auto now = busbwOf(row);
      if (was && now) compare(bytes, "busbw", *was, *now);
    }
  }
  if (check.compared == 0) {
    return makeStatus(Code::kInvalidArgument,
                      "no size of this run is in the baseline: sweep the sizes it has");
  }
  return check;
}

Expected<nlohmann::json> readJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return makeStatus(Code::kUnavailable, "cannot read '{}'", path);
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::json json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return makeStatus(Code::kInvalidArgument, "'{}' is not JSON", path);
  return json;
}

std::string formatBaselineCheck(const BaselineCheck& check, const std::string& path,
                                double maxRegressPercent) {
  std::string out;
  for (const auto& r : check.regressions) {
    out += fmt::format(
        "# Regression : size {} {}: busbw {:.4g} GB/s is {:.1f}% below the baseline's {:.4g} "
        "GB/s\n",
        r.bytes, r.side, r.busbw, r.dropPercent, r.baselineBusbw);
  }
  out +=
      fmt::format("# Baseline {} : {} busbw figures compared, max regress {}% : {}\n", path,
                  check.compared, maxRegressPercent, check.regressions.empty() ? "OK" : "FAILED");
  return out;
}

}  // namespace kolo::bench
