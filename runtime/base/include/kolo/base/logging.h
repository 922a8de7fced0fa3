// Logging with the prefix "host:pid:tid [rank] KOLO LEVEL subsys: message".
// KOLO_LOG_LEVEL=trace|debug|info|warning|error|none (default warning),
// KOLO_LOG_SUBSYS=all or a comma list (e.g. "shm,tcp") limits debug/trace output.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace kolo {

enum class LogLevel : int {
  kTrace = 0,
  kDebug = 1,
  kInfo = 2,
  kWarning = 3,
  kError = 4,
  kNone = 5
};

// The rank shown in the prefix is the calling thread's when a LogRankScope is open on it,
// otherwise the process's: the world bootstrap sets that once (one rank per process is the
// normal case). Threads that act for one rank of several in a process (ranks as threads in
// tests, each Engine's coordinator) open a scope, so their lines name their own rank.
// -1 prints "[?]".
void setLogRank(int rank);
int logRank();

class LogRankScope {
 public:
  explicit LogRankScope(int rank);
  ~LogRankScope();
  LogRankScope(const LogRankScope&) = delete;
  LogRankScope& operator=(const LogRankScope&) = delete;

 private:
  int previous_;
};
bool logEnabled(LogLevel level, std::string_view subsys);
void logWrite(LogLevel level, std::string_view subsys, std::string_view message);

}  // namespace kolo

#define KOLO_LOG(level, subsys, ...)                                               \
  do {                                                                             \
    if (::kolo::logEnabled(::kolo::LogLevel::level, subsys)) {                     \
      ::kolo::logWrite(::kolo::LogLevel::level, subsys, fmt::format(__VA_ARGS__)); \
    }                                                                              \
  } while (0)
