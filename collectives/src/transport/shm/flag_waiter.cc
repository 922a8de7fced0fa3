#include "transport/shm/flag_waiter.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "kolo/base/cpu_contention.h"
#include "kolo/base/fault_injection.h"
#include "kolo/collectives/phase_clock.h"
#include "transport/shm/peer_process.h"

namespace kolo::shm {
namespace {

// A peer running on another core publishes within a microsecond or two of us, so spinning is
// the fast path. But when the peer shares our core (more ranks than cores) no amount of
// spinning helps and only yielding lets it run. The spin budget adapts like an adaptive mutex:
// halved after a wait that spinning did not satisfy, doubled after one it did.
// When every rank has a core of its own, yielding is what hurts: another busy process on our
// core then runs for a whole scheduler slice (4 ms) before we see the peer's flag, while
// spinning keeps us running until the peer, on its own core, publishes. So the budget never
// falls below 200 us there and may grow to 2 ms; only then does the rank yield and park.
constexpr int64_t kMaxSpinNs = 20000;
constexpr int64_t kMinSpinNs = 500;
constexpr int64_t kDedicatedMaxSpinNs = 2000000;
constexpr int64_t kDedicatedMinSpinNs = 200000;
constexpr int kYieldRounds = 64;
// A parked waiter re-checks its flags, the deadline and (every kPidProbe) its peers' pids.
constexpr auto kParkSlice = std::chrono::milliseconds(10);
constexpr auto kPidProbe = std::chrono::milliseconds(50);

long futex(std::atomic<uint32_t>* word, int op, uint32_t value, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, timeout, nullptr, 0);
}

std::string missingRanks(FlagArray flags, uint64_t target, int size, int onlyRank) {
  std::string out;
  int count = 0;
  for (int q = 0; q < size; ++q) {
    if (onlyRank >= 0 && q != onlyRank) continue;
    if (flags.at(q).load(std::memory_order_acquire) >= target) continue;
    out += out.empty() ? fmt::format("{}", q) : fmt::format(", {}", q);
    ++count;
  }
  return (count == 1 ? "rank " : "ranks ") + out;
}

std::string stageName(WaitStage stage) {
  return stage.chunk >= 0 ? fmt::format("{} chunk {}", stage.op, stage.chunk)
                          : std::string(stage.op);
}

}  // namespace

FlagWaiter::FlagWaiter(ShmSegment& segment, int rank, int size)
    : segment_(segment),
      bell_(segment.at<ArenaBell>(segment.layout().bellOffset())),
      rank_(rank),
      size_(size) {
  const bool dedicatedCores = size <= static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  minSpinNs_ = dedicatedCores ? kDedicatedMinSpinNs : kMinSpinNs;
  maxSpinNs_ = dedicatedCores ? kDedicatedMaxSpinNs : kMaxSpinNs;
  spinBudgetNs_ = dedicatedCores ? kDedicatedMinSpinNs : kMaxSpinNs;
}

bool FlagWaiter::reached(FlagArray flags, uint64_t target, int onlyRank) const {
  if (onlyRank >= 0) return flags.at(onlyRank).load(std::memory_order_acquire) >= target;
  return allReached(flags, target);
}

void FlagWaiter::wakeAll() {
  bell_->epoch.fetch_add(1, std::memory_order_acq_rel);
  futex(&bell_->epoch, FUTEX_WAKE, INT32_MAX, nullptr);
}

void FlagWaiter::park(FlagArray flags, uint64_t target, int onlyRank, WaitEscape escape) {
  bell_->sleepers.fetch_add(1, std::memory_order_acq_rel);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uint32_t seen = bell_->epoch.load(std::memory_order_acquire);
  if (!reached(flags, target, onlyRank) && !escape()) {
    timespec ts{};
    ts.tv_nsec = std::chrono::duration_cast<std::chrono::nanoseconds>(kParkSlice).count();
    futex(&bell_->epoch, FUTEX_WAIT, seen, &ts);
  }
  bell_->sleepers.fetch_sub(1, std::memory_order_acq_rel);
}

Status FlagWaiter::checkPeersAlive(FlagArray flags, uint64_t target, int onlyRank,
                                   WaitStage stage) {
  for (int q = 0; q < size_; ++q) {
    if (q == rank_ || (onlyRank >= 0 && q != onlyRank)) continue;
    if (flags.at(q).load(std::memory_order_acquire) >= target) continue;
    int pid = segment_.control(q).pid.load(std::memory_order_acquire);
    // Gone, and its flag still short of the target when looked at again: a peer that arrived
    // and then exited between the first look and the probe (it passed this very wait, saw our
    // flag, and finished its job) is not a failure.
    if (processGone(pid) && flags.at(q).load(std::memory_order_acquire) < target) {
      return makeStatus(Code::kIoError, "{}: rank {} exited (its process is gone), pid {}",
                        stageName(stage), q, pid);
    }
  }
  return Status::ok();
}

Status FlagWaiter::waitSlow(FlagArray flags, uint64_t target, Deadline deadline, WaitStage stage,
                            int onlyRank, WaitEscape escape) {
  // Only a wait that found its flags unset is a transfer phase: the fast path reads no clock.
  ScopedPhase phase(Phase::kTransfer);
  auto done = [&] { return reached(flags, target, onlyRank) || escape(); };
  // No spinning and no yielding while the machine is contended (CpuContention): the peer we
  // wait for, or the training's compute, needs this core, and a yield hands it to whichever
  // busy process is next for a whole scheduler slice. Park at once; the publisher wakes us.
  SpinBudget spin(spinBudgetNs_);
  while (spin.next()) {
    if (done()) {
      spinBudgetNs_ = std::min(maxSpinNs_, spinBudgetNs_ * 2);
      return Status::ok();
    }
  }
  if (!spin.stoppedByContention()) {
    spinBudgetNs_ = std::max(minSpinNs_, spinBudgetNs_ / 2);
    for (int i = 0; i < kYieldRounds; ++i) {
      sched_yield();
      if (done()) return Status::ok();
    }
  }
  // Timed from here: the spin above (at most 2 ms) reads no clock before its first rounds.
  const auto start = Clock::now();
  auto lastProbe = start - kPidProbe;
  while (!done()) {
    auto now = Clock::now();
    if (now >= deadline.at()) {
      double waited = std::chrono::duration<double>(now - start).count();
      return makeStatus(Code::kTimeout, "{}: {} did not {} within {:.3g} s (rank {} waiting)",
                        stageName(stage), missingRanks(flags, target, size_, onlyRank), stage.verb,
                        waited, rank_);
    }
    if (now - lastProbe >= kPidProbe) {
      lastProbe = now;
      KOLO_RETURN_IF_ERROR(checkPeersAlive(flags, target, onlyRank, stage));
    }
    // The job was declared failed (docs/RELIABILITY.md): a stopped peer never publishes.
    if (abort_ && abort_->aborted()) return abort_->status().withContext(stageName(stage));
    if (faultSevered()) {
      return makeStatus(Code::kIoError,
                        "{}: rank {} dropped its connections (fault injection drop_conn)",
                        stageName(stage), rank_);
    }
    park(flags, target, onlyRank, escape);
  }
  return Status::ok();
}

}  // namespace kolo::shm
