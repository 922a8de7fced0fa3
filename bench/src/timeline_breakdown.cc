#include "timeline_breakdown.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>

namespace kolo::bench {

Expected<TimelineBreakdown> parseTimelineBreakdown(std::string_view text,
                                                   std::string_view tensorPrefix) {
  std::string closed(text);
  // A timeline still open (or cut short) lacks the closing bracket; events end with '}'.
  size_t last = closed.find_last_not_of(" \n\r\t");
  if (last != std::string::npos && closed[last] != ']') {
    closed.resize(closed.rfind('}') == std::string::npos ? 0 : closed.rfind('}') + 1);
    closed += "\n]";
  }
  nlohmann::json events = nlohmann::json::parse(closed, nullptr, /*allow_exceptions=*/false);
  if (!events.is_array()) {
    return makeStatus(Code::kInvalidArgument, "the timeline is not a JSON array of events");
  }
  std::map<std::pair<int64_t, int64_t>, std::string> rowNames;  // (pid, tid) -> tensor
  for (const auto& e : events) {
    if (e.value("ph", "") == "M" && e.value("name", "") == "thread_name") {
      rowNames[{e.value("pid", int64_t{0}), e.value("tid", int64_t{0})}] =
          e["args"].value("name", "");
    }
  }
  TimelineBreakdown out;
  std::set<std::pair<std::string, double>> counted;
  for (const auto& e : events) {
    if (e.value("ph", "") != "X") continue;
    auto row = rowNames.find({e.value("pid", int64_t{0}), e.value("tid", int64_t{0})});
    if (row == rowNames.end() || !row->second.starts_with(tensorPrefix)) continue;
    const std::string name = e.value("name", "");
    const double ts = e.value("ts", 0.0);
    const double ms = e.value("dur", 0.0) / 1000.0;
    if (name == "WAIT_FOR_PEERS" || !counted.emplace(name, ts).second) continue;
    if (name.starts_with("MEMCPY_")) {
      out.copyMs += ms;
    } else {
      out.collectiveMs += ms;
      ++out.batches;
      if (name.starts_with("FUSED_")) ++out.fusedBatches;
    }
  }
  return out;
}

Expected<TimelineBreakdown> readTimelineBreakdown(const std::string& path,
                                                  std::string_view tensorPrefix) {
  std::ifstream in(path);
  if (!in) return makeStatus(Code::kUnavailable, "cannot read the timeline '{}'", path);
  std::ostringstream text;
  text << in.rdbuf();
  auto breakdown = parseTimelineBreakdown(text.str(), tensorPrefix);
  if (!breakdown) return breakdown.status().withContext(path);
  return breakdown;
}

}  // namespace kolo::bench
