// TcpBell: the doorbell that TCP waiters park on, able to wait on the peers' sockets too.
// Completions on the io thread ring it (a futex, as every transport's doorbell). A parked
// waiter of TcpTransport waits in ppoll() on the sockets of its peers and on an eventfd that
// ring() writes while such a waiter exists: a small message then wakes the waiting thread
// itself, which reads it (TcpTransport::waitForActivity), instead of waking the io thread first
// and the waiter after it, two scheduler hops (on a busy machine, possibly a slice each).
// Thread: any.
#pragma once

#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>

#include "kolo/collectives/doorbell.h"

namespace kolo::tcp {

class TcpBell {
 public:
  TcpBell();
  ~TcpBell();
  TcpBell(const TcpBell&) = delete;
  TcpBell& operator=(const TcpBell&) = delete;

  uint32_t epoch() const { return local_.bell().epoch(); }
  // Moves the epoch and wakes every waiter, futex or ppoll.
  void ring();
  // Returns when epoch() != seen or after timeout (spurious returns allowed).
  void wait(uint32_t seen, std::chrono::microseconds timeout);
  // As wait(), and also when one of `sockets` becomes readable. `sockets` has a free first
  // entry that this fills with the eventfd.
  void waitWithSockets(uint32_t seen, std::chrono::microseconds timeout,
                       std::span<pollfd> sockets);

 private:
  mutable LocalDoorbell local_;  // epoch() reads it from const callers
  int eventFd_ = -1;
  std::atomic<int> socketWaiters_{0};
};

}  // namespace kolo::tcp
