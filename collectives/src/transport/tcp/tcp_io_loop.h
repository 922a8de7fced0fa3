// TcpIoLoop: the TCP transport's io thread once the bootstrap is done. It waits on the data
// connections ("lanes") with an epoll set of its own, level-triggered and one-shot, so a
// connection is watched only while it is armed, and runs tasks posted from other threads (an
// eventfd wakes it).
//
// Callers read for themselves. A thread waiting on a transfer polls its sockets
// (Transport::pollIncoming, which calls noteCallerPoll). While such a poll happened within
// Timing::callerWindow, a lane that turns readable is read once more here (this wake is paid
// already) and then left to the callers: not armed again, so the steady traffic of a rank whose
// threads wait actively never wakes this thread. That wake was most of a small message's
// latency over loopback: a thread switch, on a core that a spinning caller held, for bytes the
// caller would have read a microsecond later (docs/ARCHITECTURE.md, "collectives/"). A caller
// that parks sleeps in poll() on the lanes itself (TcpTransport::parkOnSockets; callerParks
// keeps them left meanwhile), so the bytes it waits for wake it and not this thread; one that
// parks on the doorbell instead (where waiters do not spin) arms them again itself (reclaim:
// an epoll_ctl on its own thread, no wake of this one); otherwise they come back once no
// caller polled for a window (this thread looks every Timing::yieldSlice while it left any).
// A lane whose connection reports an error or hang-up is never left, and nothing is left where
// waiters do not spin (CpuContention::waitersSpin: more ranks than cores, KOLO_SPIN=off): there
// they park at once or lose their core, and this thread's reads are what moves the bytes.
// Thread: post, noteCallerPoll, reclaim and leftToCallers on any thread; the handlers, armRead
// and armWrite on the loop's thread (other threads post a task that calls them). Arming a lane
// (epoll_ctl) happens under armMutex_, from the loop or a reclaiming caller.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kolo::tcp {

struct TcpIoLoopTiming {
  // How recent a caller's poll must be for a readable lane to be left to the callers.
  std::chrono::microseconds callerWindow{1000};
  // How often the loop looks whether callers stopped polling while it left a lane (those that
  // park hand the lanes back at once: this only bounds what nobody waits for).
  std::chrono::milliseconds yieldSlice{10};
};

class TcpIoLoop {
 public:
  // What reading a lane came to (TcpPeer::ReadResult, as the loop needs it).
  enum class Read { kMore, kWouldBlock, kPaused, kClosed };
  struct Handlers {
    // The lane is readable: read what there is. kMore: read again soon (a budget ran out);
    // kPaused: do not watch for reading until armRead; kClosed: forget the lane.
    std::function<Read(int lane)> onReadable;
    // The lane is writable: write what waits; true while some bytes still wait for space.
    std::function<bool(int lane)> onWritable;
  };
  using Timing = TcpIoLoopTiming;

  // `fds[lane]` is the lane's non-blocking socket, or -1. Every lane starts watched for
  // reading. Starts the thread.
  TcpIoLoop(std::vector<int> fds, Handlers handlers, Timing timing = {});
  // Stops and joins the thread (the sockets stay open: they are the caller's).
  ~TcpIoLoop();
  // The same, ahead of destruction (idempotent): tasks posted before it still run, while the
  // owner's pointer to this loop is still set (they may reach the loop through it).
  void stop();
  TcpIoLoop(const TcpIoLoop&) = delete;
  TcpIoLoop& operator=(const TcpIoLoop&) = delete;

  void post(std::function<void()> task);
  // Loop thread: watch the lane for reading again (after kPaused), or for writability.
  void armRead(int lane);
  void armWrite(int lane);
  // A caller just polled the lanes itself.
  void noteCallerPoll() {
    lastCallerPoll_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  }
  // A caller stops polling (it is about to park): lanes left to callers are watched again.
  void reclaim();
  // A caller sleeps in poll() on the lanes itself (TcpTransport's socket park): it counts as
  // polling until it wakes, so the lanes stay left to the callers meanwhile.
  void callerParks() { parkedCallers_.fetch_add(1, std::memory_order_seq_cst); }
  void callerWakes() {
    noteCallerPoll();
    parkedCallers_.fetch_sub(1, std::memory_order_seq_cst);
  }
  // The loop left this lane to the callers: a caller's poll reads all of it, large payloads
  // included, since nobody else does.
  bool leftToCallers(int lane) const {
    return left_[static_cast<size_t>(lane)].load(std::memory_order_relaxed);
  }
  // Any lane is left to the callers.
  bool anyLeft() const { return anyLeft_.load(std::memory_order_relaxed); }

 private:
  using Clock = std::chrono::steady_clock;
  // What a lane waits for: written on the loop's thread, read by a reclaiming caller too.
  struct Lane {
    int fd = -1;
    std::atomic<bool> wantRead{true};
    std::atomic<bool> wantWrite{false};
    std::atomic<bool> gone{false};
  };
  void run();
  void handle(int lane, uint32_t events);
  // Whether a caller polled within the caller window.
  bool callersActive() const;
  // Leaves `lane` to the callers, unless a reclaim came in between.
  void leave(int lane);
  // Watches every lane left to callers again (any thread).
  void takeBack();
  // Arms the lane with what it waits for (nothing: it stays off the epoll set).
  void rearm(int lane);
  void rearmLocked(int lane);  // armMutex_ held
  void runPosted();

  const size_t laneCount_;
  std::unique_ptr<Lane[]> lanes_;
  std::mutex armMutex_;
  std::unique_ptr<std::atomic<bool>[]> left_;
  std::atomic<bool> anyLeft_{false};
  std::atomic<int64_t> lastCallerPoll_{0};
  std::atomic<int> parkedCallers_{0};
  Handlers handlers_;
  const int64_t windowTicks_;  // Timing::callerWindow in Clock ticks
  const int sliceMs_;
  int epoll_ = -1;
  int event_ = -1;  // eventfd: posted tasks, reclaim, stop
  std::mutex mutex_;
  std::vector<std::function<void()>> posted_;  // guarded by mutex_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace kolo::tcp
