#include "kolo/launcher/job_status.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

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

// Owner-only, never through a link planted at the temporary name (O_EXCL | O_NOFOLLOW),
// then renamed over `path`.
void writeAtomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (done != text.size() || ::rename(temp.c_str(), path.c_str()) != 0) ::unlink(temp.c_str());
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
  writeAtomically(statusFilePath(::getpid()), "kolorun: no verdict asked yet\n");
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

std::string JobStatus::runDoctor(const std::string& directory) {
  int fds[2];
  if (::pipe(fds) != 0) return "cannot run kolo-doctor: pipe failed\n";
  const std::string size = std::to_string(options_.worldSize);
  const pid_t child = ::fork();
  if (child == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execl(options_.doctorPath.c_str(), options_.doctorPath.c_str(), "-n", size.c_str(),
            directory.c_str(), static_cast<char*>(nullptr));
    // Only async-signal-safe calls between fork and exec (kolorun has other threads).
    static constexpr char kFailed[] = "kolo-doctor could not be started (is it beside kolorun?)\n";
    (void)!::write(1, kFailed, sizeof kFailed - 1);
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  const Deadline deadline = Deadline::afterSeconds(20);
  char buffer[4096];
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 200) < 0 && errno != EINTR) break;
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n > 0) out.append(buffer, static_cast<size_t>(n));
    if (n == 0 || deadline.expired()) break;
  }
  ::close(fds[0]);
  if (child > 0) {
    if (deadline.expired()) ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
  }
  return out;
}

void JobStatus::publish(const std::string& text) {
  writeAtomically(fmt::format("{}/kolo-verdict.kolorun{}.txt", options_.flightDir, ::getpid()),
                  text);
  if (statusFileUsable_) writeAtomically(statusFilePath(::getpid()), text);
}

void JobStatus::report(const std::string& why, const std::map<int, pid_t>& localRanks) {
  const double since = nowSeconds();
  std::string notes;
  const std::string dir = collectDumps(localRanks, since, notes);
  std::string text = fmt::format("live verdict ({}): {} of {} rank(s) run on this host\n", why,
                                 localRanks.size(), options_.worldSize);
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
