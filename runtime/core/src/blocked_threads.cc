#include "blocked_threads.h"

#include <execinfo.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

namespace kolo::core {
namespace {

constexpr int kSlots = 64;
constexpr int kMaxFrames = 64;
constexpr size_t kNameBytes = 96;

// A slot's life: free -> claiming (its owner writes it) -> active -> free; the capture holds an
// active slot as sampling, and its owner cannot free it until the capture hands it back.
enum SlotState : int { kFree, kClaiming, kActive, kSampling };
// The handler's part: the capture sets requested, the handler moves it to writing, then written.
enum CaptureState : int { kIdle, kRequested, kWriting, kWritten };

struct Slot {
  std::atomic<int> state{kFree};
  std::atomic<pid_t> tid{0};
  BlockedInKolo::Kind kind = BlockedInKolo::Kind::kCaller;
  int32_t processSet = 0;
  std::chrono::steady_clock::time_point since{};
  char name[kNameBytes] = {};
  std::atomic<int> capture{kIdle};
  int depth = 0;
  void* pc = nullptr;
  void* frames[kMaxFrames] = {};
};

Slot gSlots[kSlots];
// The signal trampoline the kernel returns through (x86-64 glibc's sa_restorer), or null: a
// backtrace taken in a handler shows it between the handler's frames and the interrupted ones.
std::atomic<void*> gRestorer{nullptr};

pid_t ownTid() {
  thread_local const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  return tid;
}

void* interruptedPc(void* context) {
  if (context == nullptr) return nullptr;
  auto* uc = static_cast<ucontext_t*>(context);
#if defined(__x86_64__)
  return reinterpret_cast<void*>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return reinterpret_cast<void*>(uc->uc_mcontext.pc);
#else
  (void)uc;
  return nullptr;
#endif
}

// Async-signal-safe: atomics, the gettid syscall and backtrace() (already loaded) only.
extern "C" void onStackSignal(int, siginfo_t*, void* context) {
  const int saved = errno;
  const pid_t self = static_cast<pid_t>(::syscall(SYS_gettid));
  for (Slot& s : gSlots) {
    if (s.tid.load(std::memory_order_acquire) != self) continue;
    int expected = kRequested;
    if (!s.capture.compare_exchange_strong(expected, kWriting, std::memory_order_acq_rel)) {
      continue;
    }
    s.depth = ::backtrace(s.frames, kMaxFrames);
    s.pc = interruptedPc(context);
    s.capture.store(kWritten, std::memory_order_release);
  }
  errno = saved;
}

int stackSignal() {
  return SIGRTMIN + kStackSignalOffset;
}

// True when Kolo's handler catches the stack signal (installed here when the signal still has
// its default action); otherwise `why` says whose it is.
bool stackSignalReady(std::string& why) {
  const int sig = stackSignal();
  struct sigaction current {};
  if (::sigaction(sig, nullptr, &current) != 0) {
    why = fmt::format("signal {} cannot be queried: {}", sig, std::strerror(errno));
    return false;
  }
  if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == onStackSignal) {
    gRestorer.store(reinterpret_cast<void*>(current.sa_restorer));
    return true;
  }
  if ((current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_DFL) {
    struct sigaction action {};
    action.sa_sigaction = onStackSignal;
    ::sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    if (::sigaction(sig, &action, nullptr) == 0) return stackSignalReady(why);
    why = fmt::format("the handler of signal {} cannot be installed: {}", sig,
                      std::strerror(errno));
    return false;
  }
  why = fmt::format("signal {} (SIGRTMIN+{}) has the program's own handler, which Kolo leaves "
                    "alone", sig, kStackSignalOffset);
  return false;
}

std::string threadName(pid_t tid) {
  std::ifstream in(fmt::format("/proc/self/task/{}/comm", tid));
  std::string name;
  std::getline(in, name);
  return name;
}

std::string roleOf(const Slot& s) {
  if (s.kind == BlockedInKolo::Kind::kCoordinator) {
    return fmt::format("coordinator of process set {} (in a negotiation cycle or its "
                       "collectives)", s.processSet);
  }
  return fmt::format("caller waiting for '{}'", s.name);
}

// The frames from the interrupted one on: the handler and the signal trampoline dropped, and
// with them any other handler the thread was running when it was asked (a process-directed
// SIGUSR1 lands on any thread, a waiting one too): the stack below the outermost trampoline is
// where it waits.
std::vector<void*> framesOf(const Slot& s) {
  const int depth = std::clamp(s.depth, 0, kMaxFrames);
  const void* const* begin = s.frames;
  const void* const* end = s.frames + depth;
  const void* restorer = gRestorer.load();
  const void* const* from = end;
  for (const void* const* f = begin; restorer != nullptr && f != end; ++f) {
    if (*f == restorer) from = f + 1;
  }
  if (from == end && s.pc != nullptr) from = std::find(begin, end, s.pc);
  if (from == end) from = begin + std::min(depth, 2);
  return std::vector<void*>(const_cast<void**>(from), const_cast<void**>(end));
}

struct Held {
  int slot;
  bool sent;
};

// Waits until every signalled slot is written, or `wait` has passed.
void awaitAnswers(const std::vector<Held>& held, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    const bool all = std::all_of(held.begin(), held.end(), [](const Held& h) {
      return !h.sent || gSlots[h.slot].capture.load(std::memory_order_acquire) == kWritten;
    });
    if (all || std::chrono::steady_clock::now() >= deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Takes the slot's stack if its handler wrote it (waiting out a handler still writing), or
// withdraws the request so that a late signal writes nothing.
bool collect(Slot& s, BlockedStack& out) {
  int expected = kRequested;
  if (s.capture.compare_exchange_strong(expected, kIdle, std::memory_order_acq_rel)) return false;
  while (s.capture.load(std::memory_order_acquire) != kWritten) std::this_thread::yield();
  out.frames = framesOf(s);
  s.capture.store(kIdle, std::memory_order_release);
  return true;
}

// The calling thread's last wait, so that a wait taken up again continues it.
struct LastWait {
  size_t key = 0;
  std::chrono::steady_clock::time_point since{};
  std::chrono::steady_clock::time_point left{};
};
thread_local LastWait tLastWait;
constexpr auto kSameWaitGap = std::chrono::milliseconds(100);

}  // namespace

BlockedInKolo::BlockedInKolo(Kind kind, std::string_view name, int32_t processSet)
    : key_(std::hash<std::string_view>{}(name) ^
           (static_cast<size_t>(kind) << 40 | static_cast<uint32_t>(processSet))),
      since_(std::chrono::steady_clock::now()) {
  if (tLastWait.key == key_ && since_ - tLastWait.left < kSameWaitGap) since_ = tLastWait.since;
  const pid_t tid = ownTid();
  for (int i = 0; i < kSlots; ++i) {
    const int index = static_cast<int>((static_cast<unsigned>(tid) + i) % kSlots);
    Slot& s = gSlots[index];
    int expected = kFree;
    if (!s.state.compare_exchange_strong(expected, kClaiming, std::memory_order_acquire)) {
      continue;
    }
    s.kind = kind;
    s.processSet = processSet;
    s.since = since_;
    const size_t n = std::min(name.size(), kNameBytes - 1);
    std::memcpy(s.name, name.data(), n);
    s.name[n] = '\0';
    s.tid.store(tid, std::memory_order_release);
    s.state.store(kActive, std::memory_order_release);
    slot_ = index;
    return;
  }
}

BlockedInKolo::~BlockedInKolo() {
  tLastWait = {key_, since_, std::chrono::steady_clock::now()};
  if (slot_ < 0) return;
  Slot& s = gSlots[slot_];
  for (;;) {
    int expected = kActive;
    if (s.state.compare_exchange_weak(expected, kFree, std::memory_order_release)) return;
    std::this_thread::yield();  // a capture holds the slot for at most its wait
  }
}

BlockedStacks captureBlockedStacks(std::chrono::milliseconds wait) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  static const bool warmed = [] {
    void* frames[4];
    return ::backtrace(frames, 4) >= 0;  // loads the unwinder here, never in the handler
  }();
  (void)warmed;
  BlockedStacks out;
  const bool signalling = stackSignalReady(out.unavailable);
  const pid_t self = ownTid();
  const auto now = std::chrono::steady_clock::now();
  std::vector<Held> held;
  for (int i = 0; i < kSlots; ++i) {
    Slot& s = gSlots[i];
    int expected = kActive;
    if (!s.state.compare_exchange_strong(expected, kSampling, std::memory_order_acquire)) continue;
    const pid_t tid = s.tid.load(std::memory_order_relaxed);
    if (tid == self) {
      s.state.store(kActive, std::memory_order_release);
      continue;
    }
    BlockedStack& b = out.threads.emplace_back();
    b.role = roleOf(s);
    b.tid = tid;
    b.threadName = threadName(tid);
    b.seconds = std::chrono::duration<double>(now - s.since).count();
    bool sent = false;
    if (signalling) {
      s.capture.store(kRequested, std::memory_order_release);
      sent = ::syscall(SYS_tgkill, ::getpid(), tid, stackSignal()) == 0;
      if (!sent) s.capture.store(kIdle, std::memory_order_release);
    }
    held.push_back({i, sent});
  }
  awaitAnswers(held, wait);
  for (size_t k = 0; k < held.size(); ++k) {
    Slot& s = gSlots[held[k].slot];
    if (held[k].sent) out.threads[k].answered = collect(s, out.threads[k]);
    s.state.store(kActive, std::memory_order_release);
  }
  return out;
}

}  // namespace kolo::core
