#include "kolo/base/cpu_contention.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "kolo/base/settings.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace kolo {
namespace {

// How often the process re-reads the kernel's runnable count, and how long one observed
// preemption keeps waiters from spinning.
constexpr int64_t kSampleNs = 2'000'000;
constexpr int64_t kPreemptHoldNs = 50'000'000;
// A spinning thread that sees its clock jump this far between two looks was not running.
constexpr int64_t kPreemptGapNs = 50'000;
// Clock reads per pause rounds while spinning.
constexpr int kRoundsPerClockRead = 16;
constexpr int kRoundsPerLoadLook = 256;
// The longest spin on a contended machine: a reply already on its way still ends the wait
// without a sleep and a wake-up, and a peer that is not running costs this little.
constexpr int64_t kContendedSpinNs = 10'000;

std::atomic<int64_t> nextSampleNs{0};
std::atomic<bool> loadContended{false};
std::atomic<int64_t> preemptedUntilNs{0};
std::atomic<int> modeOverride{-1};
std::atomic<int (*)()> runnableSource{nullptr};
std::atomic<int> ranksOnHost{0};

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

int onlineCores() {
  static const int cores = [] {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int>(n) : 1;
  }();
  return cores;
}

}  // namespace

// The 4th field of /proc/loadavg, "running/total".
int CpuContention::runnableThreads() {
  static const int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[128];
  ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
  if (n <= 0) return -1;
  text[n] = '\0';
  const char* p = text;
  for (int field = 0; field < 3; ++field) {
    p = std::strchr(p, ' ');
    if (p == nullptr) return -1;
    ++p;
  }
  char* end = nullptr;
  long running = std::strtol(p, &end, 10);
  return (end == p || *end != '/') ? -1 : static_cast<int>(running);
}

int CpuContention::mode() {
  const int forced = modeOverride.load(std::memory_order_relaxed);
  if (forced >= 0) return forced;
  static const int fromEnv = [] {
    const std::string value = settingChoice("KOLO_SPIN");
    return value == "on" ? 1 : value == "off" ? 2 : 0;
  }();
  return fromEnv;
}

void CpuContention::setModeForTesting(int mode, int (*runnable)()) {
  modeOverride.store(mode, std::memory_order_relaxed);
  runnableSource.store(runnable, std::memory_order_relaxed);
  nextSampleNs.store(0, std::memory_order_relaxed);
  loadContended.store(false, std::memory_order_relaxed);
  preemptedUntilNs.store(0, std::memory_order_relaxed);
  ranksOnHost.store(0, std::memory_order_relaxed);
}

void CpuContention::noteRanksOnThisHost(int ranks) {
  int seen = ranksOnHost.load(std::memory_order_relaxed);
  while (ranks > seen && !ranksOnHost.compare_exchange_weak(seen, ranks)) {
  }
}

bool CpuContention::contended() {
  const int m = mode();
  if (m != 0) return m == 2;
  if (ranksOnHost.load(std::memory_order_relaxed) > onlineCores()) return false;
  const int64_t now = nowNs();
  if (now < preemptedUntilNs.load(std::memory_order_relaxed)) return true;
  int64_t next = nextSampleNs.load(std::memory_order_relaxed);
  if (now >= next &&
      nextSampleNs.compare_exchange_strong(next, now + kSampleNs, std::memory_order_relaxed)) {
    auto* source = runnableSource.load(std::memory_order_relaxed);
    const int running = source != nullptr ? source() : runnableThreads();
    loadContended.store(running > onlineCores(), std::memory_order_relaxed);
  }
  return loadContended.load(std::memory_order_relaxed);
}

bool CpuContention::waitersSpin() {
  const int m = mode();
  if (m != 0) return m == 1;
  return ranksOnHost.load(std::memory_order_relaxed) <= onlineCores();
}

int CpuContention::spinRounds(int whenFree, int whenContended) {
  if (mode() == 2) return 0;
  return contended() ? whenContended : whenFree;
}

void CpuContention::notePreempted() {
  if (mode() != 0) return;
  preemptedUntilNs.store(nowNs() + kPreemptHoldNs, std::memory_order_relaxed);
}

SpinBudget::SpinBudget(int64_t budgetNs) : budgetNs_(budgetNs) {
  // KOLO_SPIN=off: no polling round at all (budget spent, blamed on contention, as before).
  if (budgetNs > 0 && CpuContention::mode() == 2) {
    contended_ = true;
    budgetNs_ = 0;
  }
}

bool SpinBudget::start() {
  lastNs_ = nowNs();
  deadlineNs_ = lastNs_ + budgetNs_;
  contended_ = CpuContention::contended();
  if (contended_) deadlineNs_ = lastNs_ + std::min(budgetNs_, contendedSpinNs());
  return lastNs_ < deadlineNs_;
}

bool SpinBudget::next() {
  if (budgetNs_ <= 0 || (rounds_ >= kRoundsPerClockRead && lastNs_ >= deadlineNs_)) return false;
  cpuRelax();
  if (++rounds_ % kRoundsPerClockRead != 0) return true;
  if (rounds_ == kRoundsPerClockRead) return start();
  const int64_t now = nowNs();
  const bool preempted = now - lastNs_ > kPreemptGapNs;
  lastNs_ = now;
  if (preempted && CpuContention::mode() == 0) {
    // Spinning on after losing the CPU only delays whoever took it.
    CpuContention::notePreempted();
    contended_ = true;
    deadlineNs_ = now;
    return false;
  }
  // The machine can become busy during a long spin (another process starts).
  if (!contended_ && rounds_ % kRoundsPerLoadLook == 0 && CpuContention::contended()) {
    contended_ = true;
    deadlineNs_ = std::min(deadlineNs_, now + contendedSpinNs());
  }
  return now < deadlineNs_;
}

int64_t SpinBudget::contendedSpinNs() {
  return CpuContention::mode() == 2 ? 0 : kContendedSpinNs;
}

}  // namespace kolo
