#include "bench_report.h"

#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "bench_stats.h"

namespace kolo::bench {
namespace {

struct Bandwidths {
  double algbw = 0.0;
  double busbw = 0.0;
};

Bandwidths bandwidthsOf(const RunInfo& info, uint64_t bytes, double micros) {
  double algbw = algorithmBandwidth(bytes, micros);
  return {algbw, algbw * busBandwidthFactor(info.collective, info.worldSize)};
}

std::string_view redopColumn(const RunInfo& info) {
  return collectiveReduces(info.collective) ? reduceOpName(info.op) : std::string_view("none");
}

int rootColumn(const RunInfo& info) {
  return info.collective == Collective::kBroadcast ? info.root : -1;
}

std::optional<double> ratioOf(const RunInfo& info, const RowResult& row) {
  if (!row.mpiMedianUs) return std::nullopt;
  double mpiBusbw = bandwidthsOf(info, row.shape.bytes, *row.mpiMedianUs).busbw;
  double koloBusbw = bandwidthsOf(info, row.shape.bytes, row.medianUs).busbw;
  if (mpiBusbw <= 0.0) return std::nullopt;
  return koloBusbw / mpiBusbw;
}

std::string orNotAvailable(std::optional<double> value, int width) {
  if (!value) return fmt::format("{:>{}}", "n/a", width);
  return fmt::format("{:>{}.2f}", *value, width);
}

constexpr int kMpiTimeWidth = 13;
constexpr int kMpiBusbwWidth = 10;
constexpr int kRatioWidth = 6;

}  // namespace

MachineInfo probeMachine() {
  MachineInfo machine;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) machine.hostname = host;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        machine.cpuModel = line.substr(line.find_first_not_of(' ', colon + 1));
      }
      break;
    }
  }
  machine.cores = static_cast<int>(std::thread::hardware_concurrency());
  struct utsname names {};
  if (uname(&names) == 0) {
    machine.os = fmt::format("{} {} {}", names.sysname, names.release, names.machine);
  }
  return machine;
}

std::string formatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  auto value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  if (value == static_cast<double>(static_cast<uint64_t>(value))) {
    return fmt::format("{} {}", static_cast<uint64_t>(value), kUnits[unit]);
  }
  return fmt::format("{:.3g} {}", value, kUnits[unit]);
}

std::string summarizeHosts(std::span<const std::string> hosts) {
  std::vector<std::pair<std::string, int>> counts;
  for (const auto& host : hosts) {
    auto it = std::find_if(counts.begin(), counts.end(),
                           [&](const auto& entry) { return entry.first == host; });
    if (it == counts.end()) {
      counts.emplace_back(host, 1);
    } else {
      ++it->second;
    }
  }
  std::string text;
  for (const auto& [host, n] : counts) {
    if (!text.empty()) text += ", ";
    text += fmt::format("{} ({} rank{})", host, n, n == 1 ? "" : "s");
  }
  return text;
}

std::string summarizeAlgorithms(std::span<const std::pair<uint64_t, std::string>> bySize) {
  std::string text;
  size_t begin = 0;
  for (size_t i = 1; i <= bySize.size(); ++i) {
    if (i < bySize.size() && bySize[i].second == bySize[begin].second) continue;
    if (!text.empty()) text += ", ";
    text += bySize[begin].second + " " + formatBytes(bySize[begin].first);
    if (i - 1 != begin) text += ".." + formatBytes(bySize[i - 1].first);
    begin = i;
  }
  return text;
}

std::string formatPreamble(const RunInfo& info) {
  std::string out = fmt::format("# kolo-bench {}\n", collectiveName(info.collective));
  out += fmt::format("# machine       : {}, {} cores, {}\n", info.machine.cpuModel,
                     info.machine.cores, info.machine.os);
  out += fmt::format("# world size    : {}\n", info.worldSize);
  out += fmt::format("# hosts         : {}\n", summarizeHosts(info.hosts));
  out += fmt::format("# transport     : {}\n", info.transport);
  if (info.path == BenchPath::kRuntime) {
    out += "# path          : runtime (named tensor through the Engine: submit -> handle ready)\n";
  }
  if (info.collective == Collective::kAllreduce) {
    out += fmt::format("# algorithm     : {} (--algo {})\n",
                       summarizeAlgorithms(info.algorithmBySize), info.algorithmRequest);
    out += fmt::format("# buffers       : {}\n", info.inPlace ? "in place" : "out of place");
  }
  out += fmt::format("# reduce kernel : {}\n", info.kernelVariant);
  out += fmt::format("# dtype         : {}\n", dataTypeName(info.dtype));
  out += fmt::format("# op            : {}\n", redopColumn(info));
  if (info.collective == Collective::kBroadcast) {
    out += fmt::format("# root          : {}\n", info.root);
  }
  out += fmt::format("# iterations    : {}\n", info.iterationsText);
  out += fmt::format("# check         : {}\n",
                     info.checkEveryIteration ? "every iteration" : "last call of each size");
  if (info.compareMpi) out += "# compare       : Open MPI, same sizes, interleaved per size\n";
  return out;
}

std::string formatTableHeader(const RunInfo& info) {
  std::string out =
      fmt::format("#{:>11} {:>12} {:>9} {:>6} {:>5} {:>10} {:>12} {:>12} {:>7}", "size", "count",
                  "type", "redop", "root", "time(us)", "algbw(GB/s)", "busbw(GB/s)", "#wrong");
  if (info.compareMpi) {
    out += fmt::format(" {:>{}} {:>{}} {:>{}}", "mpi_time(us)", kMpiTimeWidth, "mpi_busbw",
                       kMpiBusbwWidth, "ratio", kRatioWidth);
  }
  return out + "\n";
}

std::string formatRow(const RunInfo& info, const RowResult& row) {
  Bandwidths bw = bandwidthsOf(info, row.shape.bytes, row.medianUs);
  std::string out =
      fmt::format("{:>12} {:>12} {:>9} {:>6} {:>5} {:>10.2f} {:>12.2f} {:>12.2f} {:>7}",
                  row.shape.bytes, row.shape.count, dataTypeName(info.dtype), redopColumn(info),
                  rootColumn(info), row.medianUs, bw.algbw, bw.busbw, row.wrong);
  if (info.compareMpi) {
    std::optional<double> mpiBusbw;
    if (row.mpiMedianUs) mpiBusbw = bandwidthsOf(info, row.shape.bytes, *row.mpiMedianUs).busbw;
    out += " " + orNotAvailable(row.mpiMedianUs, kMpiTimeWidth);
    out += " " + orNotAvailable(mpiBusbw, kMpiBusbwWidth);
    out += " " + orNotAvailable(ratioOf(info, row), kRatioWidth);
  }
  return out + "\n";
}

std::string formatSummary(const RunInfo& info, std::span<const RowResult> rows) {
  uint64_t wrong = 0;
  double busbwSum = 0.0;
  for (const auto& row : rows) {
    wrong += row.wrong;
    busbwSum += bandwidthsOf(info, row.shape.bytes, row.medianUs).busbw;
  }
  double average = rows.empty() ? 0.0 : busbwSum / static_cast<double>(rows.size());
  return fmt::format("# Out of bounds values : {} {}\n# Avg bus bandwidth : {:.4f}\n", wrong,
                     wrong == 0 ? "OK" : "FAILED", average);
}

nlohmann::json toJson(const RunInfo& info, std::span<const RowResult> rows) {
  nlohmann::json results = nlohmann::json::array();
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowResult& row = rows[i];
    Bandwidths bw = bandwidthsOf(info, row.shape.bytes, row.medianUs);
    nlohmann::json entry = {{"bytes", row.shape.bytes},  {"count", row.shape.count},
                            {"median_us", row.medianUs}, {"p99_us", row.p99Us},
                            {"algbw", bw.algbw},         {"busbw", bw.busbw},
                            {"wrong", row.wrong}};
    if (i < info.algorithmBySize.size()) entry["algorithm"] = info.algorithmBySize[i].second;
    if (info.compareMpi) {
      if (row.mpiMedianUs) {
        Bandwidths mpi = bandwidthsOf(info, row.shape.bytes, *row.mpiMedianUs);
        entry["mpi_median_us"] = *row.mpiMedianUs;
        entry["mpi_p99_us"] = row.mpiP99Us.value_or(*row.mpiMedianUs);
        entry["mpi_algbw"] = mpi.algbw;
        entry["mpi_busbw"] = mpi.busbw;
        auto ratio = ratioOf(info, row);
        entry["ratio"] = ratio ? nlohmann::json(*ratio) : nlohmann::json(nullptr);
      } else {
        for (const char* key : {"mpi_median_us", "mpi_p99_us", "mpi_algbw", "mpi_busbw", "ratio"}) {
          entry[key] = nullptr;
        }
      }
    }
    results.push_back(std::move(entry));
  }
  return {
      {"benchmark", "kolo-bench"},
      {"collective", collectiveName(info.collective)},
      {"machine",
       {{"hostname", info.machine.hostname},
        {"cpu", info.machine.cpuModel},
        {"cores", info.machine.cores},
        {"os", info.machine.os}}},
      {"world_size", info.worldSize},
      {"hosts", info.hosts},
      {"transport", info.transport},
      {"path", benchPathName(info.path)},
      {"reduce_kernel", info.kernelVariant},
      {"dtype", dataTypeName(info.dtype)},
      {"op", redopColumn(info)},
      {"root", rootColumn(info)},
      {"results", std::move(results)},
  };
}

std::string toCsv(const RunInfo& info, std::span<const RowResult> rows) {
  std::string out = "size,count,type,redop,root,time_us,algbw_gbps,busbw_gbps,wrong";
  if (info.compareMpi) out += ",mpi_time_us,mpi_busbw_gbps,ratio";
  out += "\n";
  auto optional = [](std::optional<double> v) { return v ? fmt::format("{:.4f}", *v) : "n/a"; };
  for (const auto& row : rows) {
    Bandwidths bw = bandwidthsOf(info, row.shape.bytes, row.medianUs);
    out += fmt::format("{},{},{},{},{},{:.4f},{:.4f},{:.4f},{}", row.shape.bytes, row.shape.count,
                       dataTypeName(info.dtype), redopColumn(info), rootColumn(info), row.medianUs,
                       bw.algbw, bw.busbw, row.wrong);
    if (info.compareMpi) {
      std::optional<double> mpiBusbw;
      if (row.mpiMedianUs) mpiBusbw = bandwidthsOf(info, row.shape.bytes, *row.mpiMedianUs).busbw;
      out += fmt::format(",{},{},{}", optional(row.mpiMedianUs), optional(mpiBusbw),
                         optional(ratioOf(info, row)));
    }
    out += "\n";
  }
  return out;
}

Status writeTextFile(const std::string& path, std::string_view content) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) {
    return makeStatus(Code::kIoError, "cannot open '{}' for writing: {}", path,
                      std::strerror(errno));
  }
  file.write(content.data(), static_cast<std::streamsize>(content.size()));
  file.close();
  if (!file)
    return makeStatus(Code::kIoError, "writing '{}' failed: {}", path, std::strerror(errno));
  return Status::ok();
}

}  // namespace kolo::bench
