#include "metrics_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <vector>

namespace kolo::core {
namespace {

void appendSample(std::string& out, std::string_view name, std::string_view labels,
                  std::string_view value) {
  out.append(name);
  if (!labels.empty()) fmt::format_to(std::back_inserter(out), "{{{}}}", labels);
  fmt::format_to(std::back_inserter(out), " {}\n", value);
}

std::string formatValue(double value) {
  return fmt::format("{}", value);
}

// "# HELP name ..." or "# TYPE name ...": the family name; empty for other lines.
std::string_view headerFamily(std::string_view line) {
  if (!line.starts_with("# HELP ") && !line.starts_with("# TYPE ")) return {};
  std::string_view rest = line.substr(7);
  return rest.substr(0, rest.find(' '));
}

}  // namespace

void ExpositionWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(text_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void ExpositionWriter::sample(std::string_view name, std::string_view labels, uint64_t value) {
  appendSample(text_, name, labels, std::to_string(value));
}

void ExpositionWriter::sample(std::string_view name, std::string_view labels, double value) {
  appendSample(text_, name, labels, formatValue(value));
}

void ExpositionWriter::histogram(std::string_view name, std::string_view labels,
                                 const MetricsHistogram& h, double unitsPerValue) {
  const MetricsHistogram::Snapshot s = h.snapshot();
  const std::string bucket = fmt::format("{}_bucket", name);
  const std::string sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i < s.cumulative.size(); ++i) {
    const std::string le = i < h.bounds().size()
                               ? formatValue(static_cast<double>(h.bounds()[i]) / unitsPerValue)
                               : std::string("+Inf");
    appendSample(text_, bucket, fmt::format("{}{}le=\"{}\"", labels, sep, le),
                 std::to_string(s.cumulative[i]));
  }
  appendSample(text_, fmt::format("{}_sum", name), labels,
               formatValue(static_cast<double>(s.sum) / unitsPerValue));
  appendSample(text_, fmt::format("{}_count", name), labels, std::to_string(s.count()));
}

std::string mergeExpositions(std::span<const std::string> texts) {
  struct Family {
    std::string header;
    std::string samples;
  };
  std::vector<std::string> order;
  std::map<std::string, Family, std::less<>> families;
  for (const std::string& text : texts) {
    Family* current = nullptr;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      const std::string_view line(text.data() + pos, end - pos);
      pos = end + 1;
      if (line.empty()) continue;
      if (const std::string_view name = headerFamily(line); !name.empty()) {
        auto [it, inserted] = families.try_emplace(std::string(name));
        if (inserted) order.emplace_back(name);
        current = &it->second;
        // Each text carries HELP then TYPE; the first text's pair becomes the header.
        if (std::count(it->second.header.begin(), it->second.header.end(), '\n') < 2) {
          it->second.header.append(line).push_back('\n');
        }
        continue;
      }
      if (line.front() == '#' || current == nullptr) continue;
      current->samples.append(line).push_back('\n');
    }
  }
  std::string out;
  for (const std::string& name : order) {
    const Family& f = families.at(name);
    out += f.header;
    out += f.samples;
  }
  return out;
}

}  // namespace kolo::core
