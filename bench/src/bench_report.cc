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
  const Timing* kolo = peerSide(info, row);
  if (!row.mpi || kolo == nullptr) return std::nullopt;
  double mpiBusbw = bandwidthsOf(info, row.shape.bytes, row.mpi->medianUs).busbw;
  double koloBusbw = bandwidthsOf(info, row.shape.bytes, kolo->medianUs).busbw;
  if (mpiBusbw <= 0.0) return std::nullopt;
  return koloBusbw / mpiBusbw;
}

}  // namespace

std::optional<double> boundFraction(const RunInfo& info, const RowResult& row) {
  const Timing* kolo = peerSide(info, row);
  if (!row.boundUs || kolo == nullptr || kolo->medianUs <= 0.0) return std::nullopt;
  return *row.boundUs / kolo->medianUs;
}

namespace {

std::string orNotAvailable(std::optional<double> value, int width) {
  if (!value) return fmt::format("{:>{}}", "n/a", width);
  return fmt::format("{:>{}.2f}", *value, width);
}

// Column widths. The fixed part is nccl-tests'; each side is time p99 algbw busbw #wrong.
constexpr int kTimeWidth = 9;
constexpr int kBwWidth = 7;
constexpr int kWrongWidth = 6;
constexpr int kSideWidth =
    1 + kTimeWidth + 1 + kTimeWidth + 1 + kBwWidth + 1 + kBwWidth + 1 + kWrongWidth;
constexpr int kMpiTimeWidth = 10;
constexpr int kMpiBusbwWidth = 10;
constexpr int kRatioWidth = 6;
constexpr int kBoundTimeWidth = 10;
constexpr int kBoundWidth = 6;

std::string sideColumns(const RunInfo& info, uint64_t bytes, const std::optional<Timing>& side) {
  if (!side) {
    return fmt::format(" {:>{}} {:>{}} {:>{}} {:>{}} {:>{}}", "n/a", kTimeWidth, "n/a", kTimeWidth,
                       "n/a", kBwWidth, "n/a", kBwWidth, "n/a", kWrongWidth);
  }
  Bandwidths bw = bandwidthsOf(info, bytes, side->medianUs);
  return fmt::format(" {:>{}.2f} {:>{}.2f} {:>{}.2f} {:>{}.2f} {:>{}}", side->medianUs, kTimeWidth,
                     side->p99Us, kTimeWidth, bw.algbw, kBwWidth, bw.busbw, kBwWidth, side->wrong,
                     kWrongWidth);
}

nlohmann::json sideJson(const RunInfo& info, uint64_t bytes, const std::optional<Timing>& side) {
  if (!side) return nullptr;
  Bandwidths bw = bandwidthsOf(info, bytes, side->medianUs);
  return {{"median_us", side->medianUs},
          {"p99_us", side->p99Us},
          {"algbw", bw.algbw},
          {"busbw", bw.busbw},
          {"wrong", side->wrong}};
}

std::string_view placementName(Placement placement) {
  switch (placement) {
    case Placement::kBoth:
      return "both";
    case Placement::kOutOfPlace:
      return "out-of-place";
    case Placement::kInPlace:
      return "in-place";
  }
  return "both";
}

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

const Timing* peerSide(const RunInfo& info, const RowResult& row) {
  const bool preferInPlace =
      info.collective == Collective::kAllreduce || info.collective == Collective::kBroadcast;
  const std::optional<Timing>& first = preferInPlace ? row.inPlace : row.outOfPlace;
  const std::optional<Timing>& second = preferInPlace ? row.outOfPlace : row.inPlace;
  if (first) return &*first;
  return second ? &*second : nullptr;
}

bool peerIsInPlace(const RunInfo& info, const RowResult& row) {
  const Timing* side = peerSide(info, row);
  return side != nullptr && row.inPlace && side == &*row.inPlace;
}

std::string formatPreamble(const RunInfo& info) {
  std::string out = fmt::format("# kolo-bench {}\n", collectiveName(info.collective));
  out += fmt::format("# machine       : {}, {} cores, {}\n", info.machine.cpuModel,
                     info.machine.cores, info.machine.os);
  out += fmt::format("# world size    : {}\n", info.worldSize);
  out += fmt::format("# hosts         : {}\n", summarizeHosts(info.hosts));
  if (info.topologyText.empty()) {
    out += fmt::format("# transport     : {}\n", info.transport);
  } else {
    out += info.topologyText;
  }
  if (info.path == BenchPath::kRuntime) {
    out += "# path          : runtime (named tensor through the Engine: submit -> handle ready)\n";
  }
  if (info.collective == Collective::kAllreduce) {
    out += fmt::format("# algorithm     : {} (--algo {})\n",
                       summarizeAlgorithms(info.algorithmBySize), info.algorithmRequest);
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
  out += fmt::format(
      "# columns       : {}; time = p50 over iterations of the slowest rank, p99 "
      "its 99th percentile{}\n",
      info.placement == Placement::kBoth ? std::string("out-of-place, then in-place")
                                         : std::string(placementName(info.placement)) + " only",
      hasOutOfPlace(info.collective) ? "" : " (broadcast has one buffer: in place)");
  if (info.bound) {
    out +=
        "# bound         : every rank at once reads its input and writes its output once "
        "(memcpy); bound = bound_time / time = busbw / the floor's busbw\n";
  }
  if (info.compareMpi) {
    out += fmt::format(
        "# compare       : Open MPI, same sizes, interleaved per size; ratio = Kolo busbw ({}) / "
        "MPI busbw\n",
        info.collective == Collective::kAllreduce || info.collective == Collective::kBroadcast
            ? "in-place"
            : "out-of-place");
  }
  return out;
}

std::string formatTableHeader(const RunInfo& info) {
  constexpr int kFixedWidth = 12 + 1 + 12 + 1 + 9 + 1 + 6 + 1 + 5;
  std::string out = fmt::format("#{:>{}}{:^{}}{:^{}}\n", "", kFixedWidth - 1, "out-of-place",
                                kSideWidth, "in-place", kSideWidth);
  auto names = [&](const char* time, const char* p99, const char* algbw, const char* busbw,
                   const char* wrong) {
    return fmt::format(" {:>{}} {:>{}} {:>{}} {:>{}} {:>{}}", time, kTimeWidth, p99, kTimeWidth,
                       algbw, kBwWidth, busbw, kBwWidth, wrong, kWrongWidth);
  };
  out += fmt::format("#{:>11} {:>12} {:>9} {:>6} {:>5}", "size", "count", "type", "redop", "root");
  out += names("time", "p99", "algbw", "busbw", "#wrong") +
         names("time", "p99", "algbw", "busbw", "#wrong");
  if (info.compareMpi) {
    out += fmt::format(" {:>{}} {:>{}} {:>{}}", "mpi_time", kMpiTimeWidth, "mpi_busbw",
                       kMpiBusbwWidth, "ratio", kRatioWidth);
  }
  if (info.bound) {
    out += fmt::format(" {:>{}} {:>{}}", "bound_time", kBoundTimeWidth, "bound", kBoundWidth);
  }
  out += fmt::format("\n#{:>11} {:>12} {:>9} {:>6} {:>5}", "(B)", "(elements)", "", "", "");
  out +=
      names("(us)", "(us)", "(GB/s)", "(GB/s)", "") + names("(us)", "(us)", "(GB/s)", "(GB/s)", "");
  if (info.compareMpi) {
    out += fmt::format(" {:>{}} {:>{}} {:>{}}", "(us)", kMpiTimeWidth, "(GB/s)", kMpiBusbwWidth, "",
                       kRatioWidth);
  }
  if (info.bound) {
    out += fmt::format(" {:>{}} {:>{}}", "(us)", kBoundTimeWidth, "", kBoundWidth);
  }
  // Trailing blanks of the units line carry nothing.
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + "\n";
}

std::string formatRow(const RunInfo& info, const RowResult& row) {
  std::string out = fmt::format("{:>12} {:>12} {:>9} {:>6} {:>5}", row.shape.bytes, row.shape.count,
                                dataTypeName(info.dtype), redopColumn(info), rootColumn(info));
  out += sideColumns(info, row.shape.bytes, row.outOfPlace);
  out += sideColumns(info, row.shape.bytes, row.inPlace);
  if (info.compareMpi) {
    std::optional<double> mpiTime;
    std::optional<double> mpiBusbw;
    if (row.mpi) {
      mpiTime = row.mpi->medianUs;
      mpiBusbw = bandwidthsOf(info, row.shape.bytes, row.mpi->medianUs).busbw;
    }
    out += " " + orNotAvailable(mpiTime, kMpiTimeWidth);
    out += " " + orNotAvailable(mpiBusbw, kMpiBusbwWidth);
    out += " " + orNotAvailable(ratioOf(info, row), kRatioWidth);
  }
  if (info.bound) {
    out += " " + orNotAvailable(row.boundUs, kBoundTimeWidth);
    out += " " + orNotAvailable(boundFraction(info, row), kBoundWidth);
  }
  return out + "\n";
}

uint64_t wrongElements(std::span<const RowResult> rows) {
  uint64_t wrong = 0;
  for (const auto& row : rows) {
    if (row.outOfPlace) wrong += row.outOfPlace->wrong;
    if (row.inPlace) wrong += row.inPlace->wrong;
  }
  return wrong;
}

std::string formatSummary(const RunInfo& info, std::span<const RowResult> rows) {
  double busbwSum = 0.0;
  int sides = 0;
  for (const auto& row : rows) {
    for (const auto* side : {&row.outOfPlace, &row.inPlace}) {
      if (!*side) continue;
      busbwSum += bandwidthsOf(info, row.shape.bytes, (*side)->medianUs).busbw;
      ++sides;
    }
  }
  const uint64_t wrong = wrongElements(rows);
  double average = sides == 0 ? 0.0 : busbwSum / sides;
  return fmt::format("# Out of bounds values : {} {}\n# Avg bus bandwidth : {:.4f}\n", wrong,
                     wrong == 0 ? "OK" : "FAILED", average);
}

nlohmann::json toJson(const RunInfo& info, std::span<const RowResult> rows) {
  nlohmann::json results = nlohmann::json::array();
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowResult& row = rows[i];
    nlohmann::json entry = {{"bytes", row.shape.bytes},
                            {"count", row.shape.count},
                            {"out_of_place", sideJson(info, row.shape.bytes, row.outOfPlace)},
                            {"in_place", sideJson(info, row.shape.bytes, row.inPlace)}};
    // The peer side again at the top level: what --compare mpi's ratio and older readers use.
    if (const Timing* peer = peerSide(info, row)) {
      Bandwidths bw = bandwidthsOf(info, row.shape.bytes, peer->medianUs);
      entry["placement"] = peerIsInPlace(info, row) ? "in_place" : "out_of_place";
      entry["median_us"] = peer->medianUs;
      entry["p99_us"] = peer->p99Us;
      entry["algbw"] = bw.algbw;
      entry["busbw"] = bw.busbw;
    }
    entry["wrong"] = wrongElements(std::span<const RowResult>(&row, 1));
    if (i < info.algorithmBySize.size()) entry["algorithm"] = info.algorithmBySize[i].second;
    if (info.compareMpi) {
      if (row.mpi) {
        Bandwidths mpi = bandwidthsOf(info, row.shape.bytes, row.mpi->medianUs);
        entry["mpi_median_us"] = row.mpi->medianUs;
        entry["mpi_p99_us"] = row.mpi->p99Us;
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
    if (info.bound) {
      auto fraction = boundFraction(info, row);
      entry["bound_us"] = row.boundUs ? nlohmann::json(*row.boundUs) : nlohmann::json(nullptr);
      entry["bound_fraction"] = fraction ? nlohmann::json(*fraction) : nlohmann::json(nullptr);
    }
    results.push_back(std::move(entry));
  }
  nlohmann::json out = {
      {"benchmark", "kolo-bench"},
      {"kind", "sweep"},
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
      {"algorithm_request", info.algorithmRequest},
      {"placement", placementName(info.placement)},
      {"iterations", info.iterationsText},
      {"check_every_iteration", info.checkEveryIteration},
      {"compare", info.compareMpi ? "mpi" : ""},
      {"reduce_kernel", info.kernelVariant},
      {"dtype", dataTypeName(info.dtype)},
      {"op", redopColumn(info)},
      {"root", rootColumn(info)},
      {"results", std::move(results)},
  };
  if (!info.topologyText.empty()) out["topology"] = info.topologyText;
  return out;
}

std::string toCsv(const RunInfo& info, std::span<const RowResult> rows) {
  std::string out =
      "size,count,type,redop,root,oop_time_us,oop_p99_us,oop_algbw_gbps,oop_busbw_gbps,oop_wrong,"
      "ip_time_us,ip_p99_us,ip_algbw_gbps,ip_busbw_gbps,ip_wrong";
  if (info.compareMpi) out += ",mpi_time_us,mpi_busbw_gbps,ratio";
  out += "\n";
  auto optional = [](std::optional<double> v) { return v ? fmt::format("{:.4f}", *v) : "n/a"; };
  auto side = [&](uint64_t bytes, const std::optional<Timing>& t) -> std::string {
    if (!t) return ",n/a,n/a,n/a,n/a,n/a";
    Bandwidths bw = bandwidthsOf(info, bytes, t->medianUs);
    return fmt::format(",{:.4f},{:.4f},{:.4f},{:.4f},{}", t->medianUs, t->p99Us, bw.algbw, bw.busbw,
                       t->wrong);
  };
  for (const auto& row : rows) {
    out += fmt::format("{},{},{},{},{}", row.shape.bytes, row.shape.count, dataTypeName(info.dtype),
                       redopColumn(info), rootColumn(info));
    out += side(row.shape.bytes, row.outOfPlace) + side(row.shape.bytes, row.inPlace);
    if (info.compareMpi) {
      std::optional<double> mpiTime;
      std::optional<double> mpiBusbw;
      if (row.mpi) {
        mpiTime = row.mpi->medianUs;
        mpiBusbw = bandwidthsOf(info, row.shape.bytes, row.mpi->medianUs).busbw;
      }
      out += fmt::format(",{},{},{}", optional(mpiTime), optional(mpiBusbw),
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
