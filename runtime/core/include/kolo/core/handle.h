// Handle: the caller's view of one submitted operation (or one grouped op). The
// coordinator completes the shared OpState once; callers poll it without blocking or wait on
// it with a deadline.
// Thread: complete() runs on the thread that ran the op's cycle: the coordinator thread or a
// waiter driving it (point-to-point: the progress thread or the waiter); poll/wait/result on
// any caller thread.
// Completion costs one mutex and one condition-variable notify; waiters that do not drive (the
// wait helper) block on the condition variable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "kolo/base/deadline.h"
#include "kolo/base/status.h"

namespace kolo::core {

// What an op produced beyond the caller's own output buffer. Allgather, alltoall and
// reducescatter outputs have a size only the negotiation knows, so Kolo allocates them here,
// unless the caller gave an output of that size (Tensor::outputBytes): then `placed` points
// there and `data` stays empty.
struct OpResult {
  std::vector<std::byte> data;
  std::byte* placed = nullptr;
  size_t placedBytes = 0;
  const std::byte* bytes() const { return placed ? placed : data.data(); }
  std::byte* bytes() { return placed ? placed : data.data(); }
  size_t size() const { return placed ? placedBytes : data.size(); }
  std::vector<int64_t> shape;
  int32_t lastJoinedRank = -1;  // join: the rank that joined last
  // Alltoall: rows received from each rank of the process set, in set order.
  std::vector<int64_t> receivedSplits;
};

class OpState {
 public:
  // `parts` > 1 for a grouped op: the state completes when every member completed; the
  // first failure is the group's status. Each part has its own OpResult (a grouped
  // allgather or reducescatter allocates one output per tensor).
  explicit OpState(int parts = 1)
      : remaining_(parts), more_(static_cast<size_t>(parts > 1 ? parts - 1 : 0)) {}

  bool done() const { return done_.load(std::memory_order_acquire); }
  // Runs in wait() before it blocks, on the waiting thread, until the state is done or the
  // helper gives up (point-to-point: the waiter drives the transfers itself instead of
  // waiting for the progress thread to wake it). Set once, before the Handle is handed out.
  // A plain function and the shared object it needs (a waiter gate): setting one allocates
  // nothing, where a std::function holding a shared pointer allocated on every op.
  struct WaitHelper {
    void (*run)(void* context, const OpState& state, Deadline deadline) = nullptr;
    std::shared_ptr<void> context;  // kept alive as long as the state
    explicit operator bool() const { return run != nullptr; }
    void operator()(const OpState& state, Deadline deadline) const {
      run(context.get(), state, deadline);
    }
  };
  void setWaitHelper(WaitHelper helper) { waitHelper_ = std::move(helper); }
  // Returns true if this call finished the state.
  bool complete(Status status);
  // Lets the coordinator fill results before complete(); callers read them after done().
  OpResult& mutableResult(size_t part = 0) { return part == 0 ? first_ : more_.at(part - 1); }

  // kTimeout naming `what` when the deadline passes first; otherwise the op's status.
  Status wait(Deadline deadline, const std::string& what) const;
  Status status() const;
  const OpResult& result(size_t part = 0) const { return part == 0 ? first_ : more_.at(part - 1); }
  size_t parts() const { return 1 + more_.size(); }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  WaitHelper waitHelper_;
  std::atomic<bool> done_{false};
  int remaining_;
  Status status_;
  // Part 0 lives inline (most ops have one part: no allocation for it), parts 1.. after it.
  OpResult first_;
  std::vector<OpResult> more_;
};

class Handle {
 public:
  Handle() = default;
  Handle(std::shared_ptr<OpState> state, std::string name)
      : state_(std::move(state)), name_(std::move(name)) {}

  bool valid() const { return state_ != nullptr; }
  // True once the op finished, successfully or not. Never blocks.
  bool poll() const { return state_ && state_->done(); }
  Status wait(Deadline deadline = Deadline::never()) const;
  // The outcome; kUnavailable while the op is still pending.
  Status status() const;
  // Valid after poll() returned true; `part`: the tensor's index in a grouped op.
  const OpResult& result(size_t part = 0) const { return state_->result(part); }
  size_t parts() const { return state_ ? state_->parts() : 0; }
  const std::string& name() const { return name_; }

 private:
  std::shared_ptr<OpState> state_;
  std::string name_;
};

}  // namespace kolo::core
