// TensorTable: the in-flight ops of one process set, by name. Callers add ops (rejecting a
// name that is already in flight on this rank); the coordinator drains what arrived since
// its last cycle and takes ops out by name when their response runs.
// Thread: add() on caller threads, everything else on the coordinator; one mutex, held for
// a few map operations only.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kolo/base/status.h"
#include "pending_op.h"

namespace kolo::core {

class TensorTable {
 public:
  // All or nothing: kInvalidUsage naming the first name already in flight (or repeated in
  // `ops`), or kAborted once the table is closed.
  Status add(const std::vector<PendingOpPtr>& ops);
  bool hasIncoming() const { return hasIncoming_.load(std::memory_order_acquire); }
  // Moves the ops submitted since the last call into `out` (cleared first); the two vectors
  // trade their storage, so neither side allocates once both have grown.
  void takeIncoming(std::vector<PendingOpPtr>& out);
  // Removes the op named `name` from the in-flight set; null if this rank has none.
  PendingOpPtr take(const std::string& name);
  PendingOpPtr find(const std::string& name) const;
  size_t inFlight() const;
  std::vector<PendingOpPtr> snapshot() const;
  // Removes and returns every in-flight op the coordinator already drew into a cycle.
  std::vector<PendingOpPtr> takeDrawn();
  // Refuses further adds and returns every op still in flight (to fail them).
  std::vector<PendingOpPtr> close();

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, PendingOpPtr> inFlight_;
  std::vector<PendingOpPtr> incoming_;
  std::atomic<bool> hasIncoming_{false};
  bool closed_ = false;
};

}  // namespace kolo::core
