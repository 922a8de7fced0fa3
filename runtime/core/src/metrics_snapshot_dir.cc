#include "metrics_snapshot_dir.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kolo::core {
namespace fs = std::filesystem;
namespace {

std::string sanitized(const std::string& part) {
  std::string out = part;
  for (char& c : out) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
    if (!plain) c = '_';
  }
  return out;
}

bool processGone(const std::string& text) {
  constexpr std::string_view kPrefix = "# kolo-pid ";
  if (!text.starts_with(kPrefix)) return true;
  const long pid = std::strtol(text.c_str() + kPrefix.size(), nullptr, 10);
  if (pid <= 0) return true;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

std::string metricsSnapshotDirectory(const std::string& jobId, const std::string& host,
                                     const std::string& endpoint) {
  std::error_code ec;
  const fs::path base =
      fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path(ec);
  return (base / fmt::format("kolo-metrics-{}-{}-{}-{}", ::getuid(), sanitized(jobId),
                             sanitized(host), sanitized(endpoint)))
      .string();
}

Status ensureSnapshotDirectory(const std::string& directory) {
  if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) {
    return makeStatus(Code::kUnavailable, "cannot create the metrics directory {}: {}", directory,
                      std::strerror(errno));
  }
  struct stat st {};
  if (::lstat(directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid() ||
      (st.st_mode & 0022) != 0) {
    return makeStatus(Code::kUnavailable,
                      "the metrics directory {} is not a directory that only this user can write",
                      directory);
  }
  return Status::ok();
}

std::string rankSnapshotPath(const std::string& directory, int32_t rank) {
  return fmt::format("{}/rank-{}.prom", directory, rank);
}

std::string snapshotPidLine() {
  return fmt::format("# kolo-pid {}\n", ::getpid());
}

Status writeFileAtomically(const std::string& path, const std::string& text) {
  const std::string temp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      return makeStatus(Code::kUnavailable, "cannot write {}: {}", temp, std::strerror(errno));
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(temp.c_str());
    return makeStatus(Code::kUnavailable, "cannot replace {}: {}", path, std::strerror(err));
  }
  return Status::ok();
}

std::vector<std::pair<int32_t, std::string>> readRankSnapshots(const std::string& directory,
                                                               int32_t skipRank) {
  std::vector<std::pair<int32_t, std::string>> snapshots;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory, ec)) {
    const std::string name = entry.path().filename().string();
    int32_t rank = -1;
    char tail = 0;
    if (std::sscanf(name.c_str(), "rank-%d.pro%c", &rank, &tail) != 2 || tail != 'm' ||
        !name.ends_with(".prom") || rank == skipRank) {
      continue;
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (processGone(text.str())) {
      fs::remove(entry.path(), ec);
      continue;
    }
    snapshots.emplace_back(rank, text.str());
  }
  std::sort(snapshots.begin(), snapshots.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return snapshots;
}

}  // namespace kolo::core
