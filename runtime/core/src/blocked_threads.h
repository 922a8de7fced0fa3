// BlockedThreads: the threads of this process blocked in Kolo right now, and their native
// stacks on demand, for the flight recorder's dump (native_stacks.h formats them).
//
// Registration: a thread that blocks in Kolo holds a BlockedInKolo for the time it waits: an
// application thread in OpState::wait (a handle's wait, synchronize, every blocking
// collective), a process set's coordinator for the time of one cycle (negotiation and the
// collectives it runs, where a frozen peer keeps it). The table is a fixed array of slots;
// taking and leaving one is a compare-and-swap each, no lock and no allocation. A thread that
// finds every slot taken is simply not listed. A wait taken up again for the same thing within
// 100 ms (Python waits in 0.5 s slices, to stay interruptible) counts as one wait: its time
// runs from the first slice.
//
// Capture (captureBlockedStacks, on the dump's thread): for each registered thread, the slot is
// held (its owner cannot leave until the capture is over: leaving spins, bounded by the
// capture's wait), the thread is sent Kolo's stack signal with tgkill, and its handler writes
// backtrace() into the slot's preallocated frame buffer and marks it written. The capture
// waits up to `wait` for every answer; a thread that does not answer in time (signals blocked,
// stopped) is named as such, never waited for longer.
//
// Async-signal-safety of the handler: it reads its thread id with the raw gettid syscall,
// finds its slot by scanning the array (atomics only), moves the slot's capture state
// requested -> writing with a compare-and-swap (so a late signal after the capture gave up
// writes nothing), calls backtrace() into the slot's array, stores the interrupted program
// counter from the ucontext, and marks the slot written. No lock, no allocation, no stdio.
// backtrace() loads libgcc's unwinder on its first call, which allocates: the capturing
// thread calls it once before it ever sends the signal, so the handler never does.
//
// The signal is SIGRTMIN+5 (kStackSignalOffset). Its handler is installed at the first
// capture, only when the signal still has its default action; a program that owns it keeps
// it, and the dumps then say that no native stack was taken and why.
// Thread: BlockedInKolo on any thread; captureBlockedStacks from any thread (one at a time).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kolo::core {

class BlockedInKolo {
 public:
  enum class Kind : int32_t { kCaller, kCoordinator };
  // kCaller: `name` is the tensor waited for; kCoordinator: `processSet` is the set.
  BlockedInKolo(Kind kind, std::string_view name, int32_t processSet = 0);
  ~BlockedInKolo();
  BlockedInKolo(const BlockedInKolo&) = delete;
  BlockedInKolo& operator=(const BlockedInKolo&) = delete;

 private:
  int slot_ = -1;  // -1: the table was full
  size_t key_ = 0;  // what it waits for (kind, name, set), hashed
  std::chrono::steady_clock::time_point since_;
};

inline constexpr int kStackSignalOffset = 5;  // the signal is SIGRTMIN + 5

struct BlockedStack {
  std::string role;        // "caller waiting for 'grad.x'", "coordinator of process set 0 ..."
  pid_t tid = 0;
  std::string threadName;  // /proc's comm of the thread
  double seconds = 0;      // how long it has been blocked
  bool answered = false;   // false: no stack within the capture's wait
  std::vector<void*> frames;  // innermost first, from the interrupted frame on
};

struct BlockedStacks {
  std::vector<BlockedStack> threads;
  std::string unavailable;  // non-empty: no stack could be taken at all, and why
};

// Every registered thread's stack (not the calling thread's own).
BlockedStacks captureBlockedStacks(std::chrono::milliseconds wait = std::chrono::milliseconds(100));

}  // namespace kolo::core
