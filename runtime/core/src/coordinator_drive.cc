// Coordinator::drive: a caller waiting on a handle runs its set's cycles itself (caller_drive.h).
// Without it, a cached single op costs a futex wake of the coordinator thread, the scheduler's
// delay in running it, and a condition-variable wake back to the caller; on a busy machine each
// of those hops waits for a core. The caller is already running and waiting, so it does the
// iterations: poll go, enter the cycle, run it, and between cycles a short bounded spin on the
// transport (cut to 10 us on a contended machine, CpuContention) before parking on the
// transport's activity exactly as the coordinator parks (same slices, same stall checks,
// device polls and peer probes, which are all part of an iteration).
#include <algorithm>
#include <chrono>

#include "coordinator.h"
#include "kolo/base/cpu_contention.h"
#include "kolo/base/logging.h"
#include "kolo/base/settings.h"
#include "recent_drive.h"

namespace kolo::core {
namespace {

// How long a waiting caller spins for the driver role while the coordinator thread finishes
// its iteration (it parks right after when it has nothing else to do).
constexpr int64_t kTakeOverSpinNs = 20'000;
// How long a driving caller spins on the go messages and the transport between cycles before
// it parks: a peer on another core answers within microseconds.
constexpr int64_t kIdleSpinNs = 50'000;
// The coordinator parks in short slices for twice RecentDrive's window after a drive.

}  // namespace

bool callerDrivesFromEnv() {
  return settingChoice("KOLO_CALLER_DRIVES") != "off";
}

void Coordinator::closeGate() {
  gate_->close();
}

void Coordinator::letCallersDrive(const std::vector<PendingOpPtr>& ops) {
  if (ops.empty() || deviceOps_.load(std::memory_order_acquire)) return;
  const bool onDevice = std::any_of(ops.begin(), ops.end(), [](const PendingOpPtr& op) {
    return op->tensor.device != kCpuDevice;
  });
  if (onDevice) {
    keepCyclesOnCoordinator();
    return;
  }
  // Every op of one submit shares its state (a grouped op's parts).
  ops.front()->state->setWaitHelper(
      {[](void* gate, const OpState& state, Deadline deadline) {
         static_cast<DriveGate*>(gate)->visit(
             [&](Coordinator& coordinator) { coordinator.drive(state, deadline); });
       },
       gate_});
}

void Coordinator::keepCyclesOnCoordinator() {
  deviceOps_.store(true, std::memory_order_release);
  wakeLoop();  // a driver parked on the transport sees the flag now
  // A driver checks the flag before each iteration, under the role: once the role is ours,
  // none is driving, and none will again.
  std::lock_guard role(driveMutex_);
}

bool Coordinator::takeDriverRole(const OpState& state, Deadline deadline) {
  SpinBudget spin(kTakeOverSpinNs);
  do {
    if (driveMutex_.try_lock()) return true;
    if (state.done()) return false;
  } while (spin.next() && !deadline.expired());
  return false;
}

void Coordinator::drive(const OpState& state, Deadline deadline) {
  // Not taken: the coordinator thread (or another caller) is running cycles, which complete
  // this op or leave it to the next driver; the caller waits on its handle as before.
  if (!takeDriverRole(state, deadline)) return;
  std::unique_lock role(driveMutex_, std::adopt_lock);
  if (loopEnded_ || exit_) return;
  LogRankScope logRank(set_.globalRank);
  SpinBudget spin(kIdleSpinNs);
  // Set once the spin is over: the next iteration reads the epoch it then parks on, so what
  // arrives after that read moves it and what came before is found by that iteration.
  bool readEpoch = false;
  while (!state.done() && !lifecycle_.forcedStop() && !deadline.expired() &&
         !deviceOps_.load(std::memory_order_acquire)) {
    Status failure;
    uint32_t epoch = 0;
    size_t onDevice = 0;
    const Step step = iterate(failure, epoch, onDevice, readEpoch);
    if (step == Step::kExit) {
      // The coordinator thread agrees on the verdict and fails what is pending, as when the
      // failure is its own.
      exit_ = failure;
      break;
    }
    if (step == Step::kRan) {
      spin = SpinBudget(kIdleSpinNs);
      readEpoch = false;
      continue;
    }
    if (state.done()) break;
    if (comm_.transport().pollIncoming() || spin.next()) continue;
    if (!readEpoch) {
      readEpoch = true;
      continue;
    }
    park(epoch, onDevice, deadline.remaining());
  }
  const Clock::time_point now = Clock::now();
  RecentDrive::drove(this, now);
  lastDrive_.store(now.time_since_epoch().count());
  // Whatever arrived while the caller drove rang the doorbell the coordinator parks on; work
  // left behind, or the end of the loop, is rung once more so it is never missed, and so is a
  // coordinator still parked in long slices (it then parks in short ones, see submitWakes).
  const bool wakeCoordinator = exit_.has_value() || hasLocalWork() || !shortParks_.load();
  role.unlock();
  if (wakeCoordinator) wakeLoop();
}

bool Coordinator::submitWakes() const {
  if (!callerDrives_ || deviceOps_.load(std::memory_order_acquire)) return true;
  return !RecentDrive::waitsNext(this) || !shortParks_.load();
}

void Coordinator::parkCoordinator(uint32_t epoch, uint32_t quietSeen, size_t onDevice) {
  const auto driveRecent = [this] {
    const Clock::time_point at{Clock::duration(lastDrive_.load())};
    return callerDrives_ && Clock::now() - at < 2 * kWaiterWindow;
  };
  // A submit that skipped the wake-up saw shortParks_ set after its thread drove, within
  // kWaiterWindow, so the op is seen within one cycle time even if nobody waits on it. Both
  // sides store, then load the other's word (sequentially consistent): a drive that handed
  // back while this decided is seen here, or it saw shortParks_ cleared and rang.
  bool callersDrive = driveRecent();
  shortParks_.store(callersDrive);
  if (!callersDrive && driveRecent()) {
    callersDrive = true;
    shortParks_.store(true);
  }
  if (!callersDrive) {
    // A caller driving point-to-point transfers takes their frames itself: with nothing of its
    // own in flight this thread need not wake for each (on 2 cores such a wake costs the
    // caller its core), nor every cycle time: a local submit rings the bell, and a peer's go
    // is seen within a slice (quietParkSlice).
    if (table_.inFlight() == 0 && RecentDrive::peersDrivenRecently()) {
      quiet_.bell().wait(quietSeen, quietParkSlice(onDevice));
    } else {
      park(epoch, onDevice);
    }
    return;
  }
  // Callers drive: a peer's go or data is theirs to take; what the coordinator thread is for
  // meanwhile (ops nobody waits on, a peer's cycle while no caller waits, stall checks, the
  // device) is served within one slice, and local submits, stops and drives that leave work
  // behind ring this bell (wakeLoop). With ops of its own in flight, the transport reads for
  // it until a caller polls again.
  if (table_.inFlight() > 0) comm_.transport().releaseReads();
  quiet_.bell().wait(quietSeen, parkSlice(onDevice, tuning_.cycleTime()));
}

}  // namespace kolo::core
