#include "transport/tcp/tcp_bell.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <ctime>

namespace kolo::tcp {

TcpBell::TcpBell() : eventFd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

TcpBell::~TcpBell() {
  if (eventFd_ >= 0) close(eventFd_);
}

void TcpBell::ring() {
  local_.bell().ring();
  // Pairs with the fence in waitWithSockets: either that waiter sees the new epoch before it
  // polls, or this sees it counted and wakes its poll.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (socketWaiters_.load(std::memory_order_relaxed) != 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(eventFd_, &one, sizeof(one));
  }
}

void TcpBell::wait(uint32_t seen, std::chrono::microseconds timeout) {
  local_.bell().wait(seen, timeout);
}

void TcpBell::waitWithSockets(uint32_t seen, std::chrono::microseconds timeout,
                              std::span<pollfd> sockets) {
  if (eventFd_ < 0 || sockets.empty()) return wait(seen, timeout);
  if (timeout.count() <= 0) return;
  socketWaiters_.fetch_add(1, std::memory_order_acq_rel);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (epoch() == seen) {
    sockets[0] = pollfd{.fd = eventFd_, .events = POLLIN, .revents = 0};
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000);
    ts.tv_nsec = static_cast<long>((timeout.count() % 1000000) * 1000);
    if (ppoll(sockets.data(), sockets.size(), &ts, nullptr) > 0 && sockets[0].revents != 0) {
      uint64_t drained = 0;
      [[maybe_unused]] ssize_t n = read(eventFd_, &drained, sizeof(drained));
    }
  }
  socketWaiters_.fetch_sub(1, std::memory_order_acq_rel);
}

}  // namespace kolo::tcp
