// `kolorun --status`: the client side of JobStatus (job_status.h).
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "kolo/base/deadline.h"
#include "kolo/launcher/job_status.h"
#include "kolo/launcher/kolorun_messages.h"

namespace kolo::launcher {
namespace fs = std::filesystem;
namespace {

constexpr double kAnswerSeconds = 15;

// The pids of this user's running kolorun processes (each keeps a status file).
std::vector<pid_t> runningKoloruns() {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(JobStatus::statusDirectory(), ec)) {
    const std::string name = entry.path().filename();
    unsigned long pid = 0;
    char tail[16] = {};
    if (std::sscanf(name.c_str(), "%lu.%15s", &pid, tail) == 2 &&
        std::string(tail) == "status" && ::kill(static_cast<pid_t>(pid), 0) == 0) {
      found.push_back(static_cast<pid_t>(pid));
    }
  }
  return found;
}

struct timespec mtimeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return st.st_mtim;
}

bool changed(const struct timespec& before, const struct timespec& now) {
  return now.tv_sec != before.tv_sec || now.tv_nsec != before.tv_nsec;
}

}  // namespace

int printJobStatus(int pid) {
  if (pid <= 0) {
    std::vector<pid_t> running = runningKoloruns();
    if (running.empty()) {
      printError(fmt::format("--status: no running kolorun of this user found on this host "
                             "(none keeps a status file in {})", JobStatus::statusDirectory()));
      return 1;
    }
    if (running.size() > 1) {
      std::string pids;
      for (pid_t p : running) pids += fmt::format(" {}", p);
      printError(fmt::format("--status: {} kolorun jobs run here (pids{}); choose one with "
                             "--pid", running.size(), pids));
      return 2;
    }
    pid = running.front();
  }
  const std::string path = JobStatus::statusFilePath(pid);
  if (!JobStatus::ownStatusDirectory() || !fs::exists(path) || ::kill(pid, 0) != 0) {
    printError(fmt::format("--status: kolorun {} is not running here, or keeps no status", pid));
    return 1;
  }
  const struct timespec before = mtimeOf(path);
  if (::kill(pid, SIGUSR1) != 0) {
    printError(fmt::format("--status: cannot signal kolorun {}: {}", pid, std::strerror(errno)));
    return 1;
  }
  const Deadline deadline = Deadline::afterSeconds(kAnswerSeconds);
  while (!changed(before, mtimeOf(path))) {
    if (deadline.expired() || ::kill(pid, 0) != 0) {
      printError(fmt::format("--status: kolorun {} gave no verdict within {:.0f} s", pid,
                             kAnswerSeconds));
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::fputs(text.str().c_str(), stdout);
  return 0;
}

}  // namespace kolo::launcher
