#include "kolo/base/logging.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "kolo/base/env.h"
#include "kolo/base/host_address.h"
#include "kolo/base/settings.h"

namespace kolo {
namespace {

// Process-wide by nature: one rank per process outside tests. Threads override it below.
std::atomic<int> gRank{-1};
constexpr int kNoThreadRank = -2;
thread_local int tRank = kNoThreadRank;

struct LogConfig {
  LogLevel level = LogLevel::kWarning;
  bool allSubsystems = true;
  std::vector<std::string> subsystems;
  std::string host;
};

LogLevel parseLevel(std::string_view s) {
  if (s == "trace") return LogLevel::kTrace;
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warning" || s == "warn") return LogLevel::kWarning;
  if (s == "error") return LogLevel::kError;
  if (s == "none" || s == "off") return LogLevel::kNone;
  return LogLevel::kWarning;
}

const LogConfig& config() {
  static const LogConfig cfg = [] {
    LogConfig c;
    // Read as plain text: a typed reader's warning would log from inside the logger's setup.
    if (auto v = settingText("KOLO_LOG_LEVEL")) c.level = parseLevel(toLower(*v));
    if (auto v = settingText("KOLO_LOG_SUBSYS"); v && *v != "all") {
      c.allSubsystems = false;
      c.subsystems = splitString(*v, ',');
    }
    c.host = hostName();
    return c;
  }();
  return cfg;
}

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "TRACE";
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kNone:
      return "NONE";
  }
  return "?";
}

}  // namespace

void setLogRank(int rank) {
  gRank.store(rank, std::memory_order_relaxed);
}

int logRank() {
  return tRank != kNoThreadRank ? tRank : gRank.load(std::memory_order_relaxed);
}

LogRankScope::LogRankScope(int rank) : previous_(tRank) {
  tRank = rank;
}
LogRankScope::~LogRankScope() {
  tRank = previous_;
}

bool logEnabled(LogLevel level, std::string_view subsys) {
  const LogConfig& c = config();
  if (level < c.level) return false;
  // Warnings and errors are always shown; the subsystem filter narrows chatty levels.
  if (level >= LogLevel::kWarning || c.allSubsystems) return true;
  for (const auto& s : c.subsystems) {
    if (s == subsys) return true;
  }
  return false;
}

void logWrite(LogLevel level, std::string_view subsys, std::string_view message) {
  const LogConfig& c = config();
  const int rank = logRank();
  std::string rankText = rank < 0 ? std::string("?") : std::to_string(rank);
  std::string line = fmt::format("{}:{}:{} [{}] KOLO {} {}: {}\n", c.host, getpid(),
                                 static_cast<long>(syscall(SYS_gettid)), rankText, levelName(level),
                                 subsys, message);
  // One write per line keeps lines from different threads whole.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace kolo
