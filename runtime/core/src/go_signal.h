// GoSignal: the go/wake protocol between the members of one process set, so that cycles need
// no polling. A rank that starts cycle k for its own work first sends go(k), 8 bytes on a
// control tag, to every member; idle members keep one receive per peer posted for it and wake
// on it (the receive moves the transport's activity epoch, which the parked coordinator
// waits on); go(j) with j <= the current cycle is stale and ignored. All members therefore
// run the same cycles in the same order, and an idle set costs nothing.
// Thread: coordinator; wake() on any thread once start() has returned.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "set_identity.h"

namespace kolo::core {

class GoSignal {
 public:
  // The high bit keeps go messages apart from Communicator::beginCollective()'s tags.
  static constexpr uint64_t kGoTag = (uint64_t{1} << 63) | 1;

  GoSignal(Communicator& comm, const SetIdentity& set) : comm_(comm), set_(set) {}
  GoSignal(const GoSignal&) = delete;
  GoSignal& operator=(const GoSignal&) = delete;

  // Before the coordinator thread starts: posts one receive per peer and learns whether the
  // transport can wake a parked coordinator.
  void start();
  // False: the transport has no doorbell, so the coordinator must park in short slices.
  bool canWake() const { return canWake_; }
  // Wakes the parked coordinator (new local work, a shutdown request).
  void wake();

  // Raises `target` to the highest cycle a peer announced; fails if a receive failed.
  Status poll(uint64_t& target);
  // Tells every peer that this rank starts `cycle`.
  void send(uint64_t cycle);
  // The set stopped: cancels the posted receives and the sends still in flight.
  void cancel();

 private:
  void postRecv(size_t peer);
  void reapSends();

  struct Slot {
    uint64_t value = 0;
    TransferRequestPtr request;
  };
  struct Send {
    std::unique_ptr<uint64_t> value;  // stable address while the send is in flight
    TransferRequestPtr request;
  };

  Communicator& comm_;
  const SetIdentity& set_;
  std::vector<Slot> recv_;  // index: member index; empty for this rank
  std::vector<Send> sends_;
  bool canWake_ = false;
};

}  // namespace kolo::core
