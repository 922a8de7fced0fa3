#include "kolo/launcher/job_status.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "kolo/base/program_output.h"
#include "kolo/base/status_request.h"
#include "kolo/launcher/store_server.h"
#include "kolo/launcher/kolorun_messages.h"

namespace kolo::launcher {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kStallMarker = " stall: stalled for ";

double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double mtimeSeconds(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<double>(st.st_mtim.tv_sec) + st.st_mtim.tv_nsec * 1e-9;
}

// True when /proc/<pid>/status says the process catches SIGUSR1 (SigCgt).
bool catchesUsr1(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("SigCgt:", 0) != 0) continue;
    const unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
    return (mask >> (SIGUSR1 - 1)) & 1ULL;
  }
  return false;
}

// The processes of `group` (a rank leads its own process group) that catch SIGUSR1: the rank
// itself, or the program a wrapper script started. A process that does not catch it would die.
std::vector<pid_t> usr1Catchers(pid_t group) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    if (::getpgid(pid) == group && catchesUsr1(pid)) found.push_back(pid);
  }
  return found;
}

// The dump a process wrote into `dir` at or after `since`, or an empty path.
fs::path freshDump(const std::string& dir, pid_t pid, double since) {
  const std::string suffix = fmt::format(".pid{}.txt", pid);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename();
    if (name.rfind("kolo-flight.rank", 0) == 0 && name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        mtimeSeconds(entry.path()) >= since) {
      return entry.path();
    }
  }
  return {};
}

// True when `dir` holds a dump of `rank`.
bool dumpedRank(const std::string& dir, int rank) {
  const std::string prefix = fmt::format("kolo-flight.rank{}.pid", rank);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) return true;
  }
  return false;
}

}  // namespace

JobStatus::JobStatus(JobStatusOptions options) : options_(std::move(options)) {
  if (options_.flightDir.empty()) options_.flightDir = "/tmp";
  statusFileUsable_ = ownStatusDirectory();
  if (!statusFileUsable_) {
    logLine(fmt::format("warning: {} is not a directory of this user's alone: kolorun --status "
                        "cannot reach this job", statusDirectory()));
    return;
  }
  writeFileAtomically(statusFilePath(::getpid()), "kolorun: no verdict asked yet\n");
}

JobStatus::~JobStatus() {
  std::error_code ec;
  fs::remove(statusFilePath(::getpid()), ec);
}

std::string JobStatus::statusDirectory() {
  return fmt::format("/tmp/kolorun-{}", ::getuid());
}

std::string JobStatus::statusFilePath(pid_t kolorun) {
  return fmt::format("{}/{}.status", statusDirectory(), kolorun);
}

bool JobStatus::ownStatusDirectory() {
  const std::string dir = statusDirectory();
  ::mkdir(dir.c_str(), 0700);
  struct stat st {};
  return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::getuid() &&
         (st.st_mode & 077) == 0;
}

bool JobStatus::stallWarned(std::string_view text) {
  if (text.find(kStallMarker) == std::string_view::npos) return false;
  if (stallSeen_ && !quietUntil_.expired()) return false;
  stallSeen_ = true;
  quietUntil_ = Deadline::afterSeconds(options_.stallRepeatSeconds);
  return true;
}

std::string JobStatus::collectDumps(const std::map<int, pid_t>& localRanks, double since,
                                    std::string& notes) {
  std::set<pid_t> asked;
  for (const auto& [rank, leader] : localRanks) {
    std::vector<pid_t> catchers = usr1Catchers(leader);
    if (catchers.empty()) {
      notes += fmt::format("rank {} (pid {}) does not catch SIGUSR1 (no Kolo session open yet, "
                           "or the program owns the signal): no dump asked\n", rank, leader);
    }
    for (pid_t pid : catchers) {
      if (::kill(pid, SIGUSR1) == 0) asked.insert(pid);
    }
  }
  char pattern[] = "/tmp/kolorun-verdict-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return {};
  const std::string dir = pattern;
  const Deadline deadline = Deadline::afterSeconds(options_.dumpWaitSeconds);
  std::set<pid_t> pending = asked;
  while (!pending.empty()) {
    for (auto it = pending.begin(); it != pending.end();) {
      fs::path dump = freshDump(options_.flightDir, *it, since);
      std::error_code ec;
      if (!dump.empty() && fs::copy_file(dump, fs::path(dir) / dump.filename(), ec)) {
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    if (pending.empty() || deadline.expired()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (pid_t pid : pending) {
    notes += fmt::format("pid {} wrote no dump within {:.1f} s (stuck with signals blocked, or "
                         "KOLO_FLIGHT_RECORDER_DIR differs from {})\n", pid,
                         options_.dumpWaitSeconds, options_.flightDir);
  }
  return dir;
}

void JobStatus::askRemote(const std::string& why, const std::map<int, pid_t>& localRanks,
                          const std::string& dir, std::string& notes) {
  std::set<int> remote;
  for (int rank = 0; rank < size(); ++rank) {
    if (options_.currentSize ? !dumpedRank(dir, rank) : !localRanks.count(rank)) {
      remote.insert(rank);
    }
  }
  if (remote.empty() || options_.store == nullptr || dir.empty()) return;
  const std::optional<int64_t> request =
      options_.store->add(statusRequestCounterKey(options_.jobId), 1);
  if (!request) return;
  options_.store->set(statusRequestKey(options_.jobId, *request),
                      fmt::format("time {:.3f} ranks {} kolorun: {}", nowSeconds(),
                                  fmt::join(remote, ","), why));
  const std::string prefix = statusDumpKey(options_.jobId, *request, 0);
  const std::string common = prefix.substr(0, prefix.size() - 1);  // ".../dump/"
  const std::regex header(R"(^# Kolo flight recorder: rank (\d+) pid (\d+),)");
  const Deadline deadline = Deadline::afterSeconds(options_.dumpWaitSeconds);
  std::set<int> pending = remote;
  while (!pending.empty() && !deadline.expired()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (const auto& [key, text] : options_.store->valuesWithPrefix(common, 0.5)) {
      std::smatch m;
      if (!std::regex_search(text, m, header) || !pending.count(std::stoi(m[1].str()))) continue;
      pending.erase(std::stoi(m[1].str()));
      writeFileAtomically(fmt::format("{}/kolo-flight.rank{}.pid{}.txt", dir, m[1].str(),
                                      m[2].str()), text);
    }
  }
  for (int rank : pending) {
    notes += fmt::format("rank {} ({}) did not answer through the store within {:.1f} s: it is "
                         "gone, or frozen\n", rank,
                         options_.currentSize ? "of the current elastic generation, no local dump"
                                              : "on another host",
                         options_.dumpWaitSeconds);
  }
}

std::string JobStatus::runDoctor(const std::string& directory) {
  return runProgramOutput(
      {options_.doctorPath, "-n", std::to_string(size()), directory}, 20);
}

void JobStatus::publish(const std::string& text) {
  writeFileAtomically(fmt::format("{}/kolo-verdict.kolorun{}.txt", options_.flightDir, ::getpid()),
                  text);
  if (statusFileUsable_) writeFileAtomically(statusFilePath(::getpid()), text);
}

void JobStatus::report(const std::string& why, const std::map<int, pid_t>& localRanks) {
  const double since = nowSeconds();
  std::string notes;
  const std::string dir = collectDumps(localRanks, since, notes);
  askRemote(why, localRanks, dir, notes);
  std::string text = fmt::format("live verdict ({}): {} of {} rank(s) run on this host\n", why,
                                 localRanks.size(), size());
  text += notes;
  if (!dir.empty()) {
    text += runDoctor(dir);
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) logLine(line);
  publish(text);
}

}  // namespace kolo::launcher
