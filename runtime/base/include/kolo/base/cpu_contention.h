// CpuContention: whether a waiting thread may spin.
// Spinning answers a peer on another core within a microsecond, but it pays only while every
// runnable thread has a core: on a busy machine (data-loader workers, torch's intra-op threads,
// more ranks than cores) a spinning waiter keeps the core from the very thread it waits for, or
// from the training's own compute, and its spent CPU time makes the scheduler favour it less
// when it is finally woken. So every Kolo wait asks here before it spins and parks on a futex
// after a short spin (10 us, not up to 2 ms) when the machine is contended, without the
// sched_yield()s that would hand the core to a busy process for a whole slice.
// "Contended" is either of:
//   - the kernel's count of runnable threads (/proc/loadavg, re-read at most every 2 ms by
//     whichever waiter comes first) exceeds the online cores, i.e. somebody waits for a CPU;
//   - a spinning thread of this process saw a gap in its own clock (it was preempted) within
//     the last 50 ms;
// unless the job's own ranks outnumber this host's cores (noteRanksOnThisHost).
// KOLO_SPIN=auto (the default) applies this; on always spins as if the cores were free, off
// never spins (parks at once).
// Thread: any; the state is process-wide atomics.
#pragma once

#include <cstdint>

namespace kolo {

class CpuContention {
 public:
  // True when a waiter should not spin now. Costs a clock read and a few relaxed loads, plus a
  // pread of /proc/loadavg every 2 ms in the whole process.
  static bool contended();
  // The job runs `ranks` ranks on this host (world bootstrap). When they outnumber the cores
  // the job contends with itself, and the waits keep the behaviour tuned for that (a short
  // spin, then sched_yield, which hands the core to a peer rank, then park): contended() is
  // false there.
  static void noteRanksOnThisHost(int ranks);
  // For waits that count polling rounds rather than time: `whenFree` rounds while the cores
  // are free, `whenContended` while they are not, 0 with KOLO_SPIN=off.
  static int spinRounds(int whenFree, int whenContended);
  // Whether this job's waiters spin before they park: KOLO_SPIN is not off and the job's ranks
  // do not outnumber this host's cores (load from elsewhere only shortens their spins).
  static bool waitersSpin();
  // A spinning waiter found it lost the CPU (a clock gap): contended() holds for a while.
  static void notePreempted();
  // The mode in effect (KOLO_SPIN, read once): 0 auto, 1 always spin, 2 never spin.
  static int mode();
  // The kernel's instantaneous count of runnable threads (/proc/loadavg's "running"), or -1.
  static int runnableThreads();
  // For tests: overrides KOLO_SPIN (0 auto, 1 on, 2 off; -1 back to KOLO_SPIN) and forgets
  // every sample; `runnable`, when given, replaces the kernel's count.
  static void setModeForTesting(int mode, int (*runnable)() = nullptr);
};

// A bounded spin that is cut to 10 us when the machine is contended (0 with KOLO_SPIN=off)
// and ends at once when this thread finds it was preempted.
// Use: `SpinBudget spin(budgetNs); while (spin.next()) { if (ready()) return; }`, then park.
// The clock is first read after a few rounds of polling (a few hundred ns), not on
// construction: a wait that a peer ends within that time costs no clock read at all (one read
// is a good part of a small collective's time on some machines), and the budget and the
// contention check start from that first read.
class SpinBudget {
 public:
  explicit SpinBudget(int64_t budgetNs);
  // One more round of polling? Pauses the CPU a little; false once the budget is spent or
  // spinning stopped paying.
  bool next();
  // True when the machine was found contended during this spin: skip any yielding after it.
  bool stoppedByContention() const { return contended_; }

 private:
  static int64_t contendedSpinNs();

  // The first clock read: the budget starts here, and the contention check is made.
  bool start();

  int64_t budgetNs_;
  int64_t deadlineNs_ = 0;
  int64_t lastNs_ = 0;
  int rounds_ = 0;
  bool contended_ = false;
};

}  // namespace kolo
