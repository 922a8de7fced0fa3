// TcpBell: a contended waiter parked on its peers' sockets wakes when bytes arrive and when the
// bell rings; an epoch that already moved returns. Each wait has a 30 s timeout, so a wait
// that was not woken fails the 20 s bound.
#include "transport/tcp/tcp_bell.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

namespace kolo::tcp {
namespace {

// Far longer than any wake-up takes: a wait that lasts this long was not woken.
constexpr auto kNeverMicros = std::chrono::microseconds(30'000'000);
constexpr auto kNeverSeconds = std::chrono::seconds(20);

struct SocketPair {
  int fds[2] = {-1, -1};
  SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0); }
  ~SocketPair() {
    close(fds[0]);
    close(fds[1]);
  }
};

std::chrono::steady_clock::duration timeWait(TcpBell& bell, uint32_t seen, int socket) {
  std::vector<pollfd> fds(2);
  fds[1] = pollfd{.fd = socket, .events = POLLIN, .revents = 0};
  const auto start = std::chrono::steady_clock::now();
  bell.waitWithSockets(seen, kNeverMicros, fds);
  return std::chrono::steady_clock::now() - start;
}

TEST(TcpBell, BytesOnASocketWakeTheWaiter) {
  TcpBell bell;
  SocketPair pair;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    char byte = 1;
    EXPECT_EQ(write(pair.fds[1], &byte, 1), 1);
  });
  EXPECT_LT(timeWait(bell, bell.epoch(), pair.fds[0]), kNeverSeconds);
  writer.join();
  char byte = 0;
  EXPECT_EQ(read(pair.fds[0], &byte, 1), 1);  // the byte is left for the waiter to read
}

TEST(TcpBell, ARingWakesAWaiterOnSockets) {
  TcpBell bell;
  SocketPair pair;
  const uint32_t seen = bell.epoch();
  std::thread ringer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    bell.ring();
  });
  EXPECT_LT(timeWait(bell, seen, pair.fds[0]), kNeverSeconds);
  ringer.join();
  EXPECT_NE(bell.epoch(), seen);
}

TEST(TcpBell, AnEpochThatMovedReturnsAndTheNextRingWakesAgain) {
  TcpBell bell;
  SocketPair pair;
  const uint32_t seen = bell.epoch();
  bell.ring();
  EXPECT_LT(timeWait(bell, seen, pair.fds[0]), kNeverSeconds);
  // The next wait, on the new epoch, is woken by the next ring.
  const uint32_t now = bell.epoch();
  std::thread ringer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    bell.ring();
  });
  EXPECT_LT(timeWait(bell, now, pair.fds[0]), kNeverSeconds);
  ringer.join();
  EXPECT_NE(bell.epoch(), now);
}

TEST(TcpBell, TheFutexWaitAlsoWakesOnARing) {
  TcpBell bell;
  const uint32_t seen = bell.epoch();
  std::thread ringer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    bell.ring();
  });
  const auto start = std::chrono::steady_clock::now();
  while (bell.epoch() == seen) bell.wait(seen, kNeverMicros);
  EXPECT_LT(std::chrono::steady_clock::now() - start, kNeverSeconds);
  ringer.join();
}

}  // namespace
}  // namespace kolo::tcp
