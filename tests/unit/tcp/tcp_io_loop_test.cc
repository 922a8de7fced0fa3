// TcpIoLoop over socketpairs: who reads a readable connection (the loop, or the callers while
// they poll), how a parking caller hands it back, hang-ups, posted tasks and write interest.
#include "transport/tcp/tcp_io_loop.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "kolo/base/cpu_contention.h"

namespace kolo::tcp {
namespace {

using namespace std::chrono_literals;

// Polls `done` until it holds or 10 s passed (the bound only keeps a broken loop from hanging).
bool eventually(const std::function<bool()>& done, const std::function<void()>& meanwhile = {}) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    if (meanwhile) meanwhile();
    std::this_thread::sleep_for(100us);
  }
  return done();
}

// One lane: a socketpair whose first end the loop watches; the handlers count their calls and
// drain the socket like TcpPeer::readAvailable.
struct LoopFixture {
  int fds[2] = {-1, -1};
  std::atomic<int> reads{0};
  std::atomic<int> closes{0};
  std::atomic<int> writables{0};
  std::unique_ptr<TcpIoLoop> loop;

  explicit LoopFixture(TcpIoLoop::Timing timing = {}) {
    CpuContention::setModeForTesting(1);  // waiters spin: the loop may leave lanes to them
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    TcpIoLoop::Handlers handlers{[this](int lane) { return read(lane); },
                                 [this](int) {
                                   ++writables;
                                   return false;
                                 }};
    loop = std::make_unique<TcpIoLoop>(std::vector<int>{fds[0]}, std::move(handlers), timing);
  }
  ~LoopFixture() {
    loop.reset();
    CpuContention::setModeForTesting(-1);
    ::close(fds[0]);
    if (fds[1] >= 0) ::close(fds[1]);
  }
  TcpIoLoop::Read read(int) {
    char buffer[256];
    for (;;) {
      const ssize_t n = ::recv(fds[0], buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) {
        ++reads;
        continue;
      }
      if (n == 0) {
        ++closes;
        return TcpIoLoop::Read::kClosed;
      }
      return TcpIoLoop::Read::kWouldBlock;
    }
  }
  void send(char byte) { ASSERT_EQ(::send(fds[1], &byte, 1, MSG_NOSIGNAL), 1); }
};

TEST(TcpIoLoop, ReadsALaneItselfWhileNoCallerPolls) {
  LoopFixture f;
  f.send('a');
  EXPECT_TRUE(eventually([&] { return f.reads.load() == 1; }));
  EXPECT_FALSE(f.loop->leftToCallers(0));
  f.send('b');
  EXPECT_TRUE(eventually([&] { return f.reads.load() == 2; })) << "the lane was armed again";
}

TEST(TcpIoLoop, LeavesAReadableLaneToPollingCallersUntilOneParks) {
  // A window far longer than the test: only reclaim() can hand the lane back.
  LoopFixture f({std::chrono::microseconds(std::chrono::hours(1)), 1ms});
  f.loop->noteCallerPoll();
  f.send('a');
  // The wake it took for the first byte is paid: it reads that, then leaves the lane.
  ASSERT_TRUE(eventually([&] { return f.loop->leftToCallers(0); }));
  EXPECT_EQ(f.reads.load(), 1);
  EXPECT_TRUE(f.loop->anyLeft());
  f.send('b');
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(f.reads.load(), 1) << "the loop read a lane it had left to the callers";
  f.loop->reclaim();  // a caller parks: the lane is armed again on its thread
  EXPECT_FALSE(f.loop->leftToCallers(0));
  EXPECT_FALSE(f.loop->anyLeft());
  EXPECT_TRUE(eventually([&] { return f.reads.load() == 2; }));
}

TEST(TcpIoLoop, LeavesNothingWhereWaitersDoNotSpin) {
  LoopFixture f({std::chrono::microseconds(std::chrono::hours(1)), 1ms});
  CpuContention::setModeForTesting(2);  // KOLO_SPIN=off: waiters park at once
  f.loop->noteCallerPoll();
  f.send('a');
  EXPECT_TRUE(eventually([&] { return f.reads.load() == 1; }));
  f.send('b');
  EXPECT_TRUE(eventually([&] { return f.reads.load() == 2; })) << "the loop left the lane";
  EXPECT_FALSE(f.loop->anyLeft());
}

TEST(TcpIoLoop, TakesALeftLaneBackOnceCallersStopPolling) {
  LoopFixture f({std::chrono::microseconds(2000), 1ms});
  f.loop->noteCallerPoll();
  f.send('a');
  // Either the loop left the lane and takes it back after the window, or the window had
  // already passed when the byte arrived: both end with the loop reading it, without reclaim.
  EXPECT_TRUE(eventually([&] { return f.reads.load() == 1; }));
  EXPECT_TRUE(eventually([&] { return !f.loop->anyLeft(); }));
}

TEST(TcpIoLoop, AHangUpIsReadByTheLoopEvenWhilePolled) {
  LoopFixture f({std::chrono::microseconds(std::chrono::hours(1)), 1ms});
  f.loop->noteCallerPoll();
  ::close(f.fds[1]);
  f.fds[1] = -1;
  EXPECT_TRUE(eventually([&] { return f.closes.load() == 1; }));
}

TEST(TcpIoLoop, RunsPostedTasksAndWatchesForWritability) {
  LoopFixture f;
  std::atomic<bool> ran{false};
  f.loop->post([&] { ran = true; });
  EXPECT_TRUE(eventually([&] { return ran.load(); }));
  f.loop->post([&] { f.loop->armWrite(0); });
  EXPECT_TRUE(eventually([&] { return f.writables.load() == 1; }));
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(f.writables.load(), 1) << "write interest ends when the handler says so";
  f.send('a');
  EXPECT_TRUE(eventually([&] { return f.reads.load() == 1; })) << "reading still watched";
}

TEST(TcpIoLoop, ItsThreadIsNamedForTopAndDebuggers) {
  LoopFixture f;
  std::atomic<bool> ran{false};
  std::string name;
  f.loop->post([&] {
    char buffer[32] = {};
    pthread_getname_np(pthread_self(), buffer, sizeof buffer);
    name = buffer;
    ran = true;
  });
  ASSERT_TRUE(eventually([&] { return ran.load(); }));
  EXPECT_EQ(name, "kolo-tcp-io");
}

}  // namespace
}  // namespace kolo::tcp
