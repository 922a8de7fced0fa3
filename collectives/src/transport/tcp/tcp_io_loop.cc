#include "transport/tcp/tcp_io_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "kolo/base/cpu_contention.h"
#include "kolo/base/logging.h"
#include "kolo/base/thread_name.h"

namespace kolo::tcp {
namespace {

constexpr uint64_t kEventKey = ~uint64_t{0};
constexpr int kMaxEvents = 64;
constexpr uint32_t kBroken = EPOLLERR | EPOLLHUP | EPOLLRDHUP;

}  // namespace

TcpIoLoop::TcpIoLoop(std::vector<int> fds, Handlers handlers, Timing timing)
    : laneCount_(fds.size()),
      lanes_(std::make_unique<Lane[]>(fds.size())),
      left_(std::make_unique<std::atomic<bool>[]>(fds.size())),
      handlers_(std::move(handlers)),
      windowTicks_(std::chrono::duration_cast<Clock::duration>(timing.callerWindow).count()),
      sliceMs_(static_cast<int>(std::max<int64_t>(1, timing.yieldSlice.count()))),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      event_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (epoll_ < 0 || event_ < 0) {
    KOLO_LOG(kError, "tcp", "cannot create the io thread's epoll set or eventfd: {}",
             std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kEventKey;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, event_, &ev);
  for (size_t lane = 0; lane < fds.size(); ++lane) {
    left_[lane].store(false, std::memory_order_relaxed);
    lanes_[lane].fd = fds[lane];
    lanes_[lane].gone = fds[lane] < 0;
    if (fds[lane] < 0) continue;
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.u64 = lane;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fds[lane], &ev) != 0) {
      KOLO_LOG(kError, "tcp", "cannot watch connection {} for reading: {}", lane,
               std::strerror(errno));
    }
  }
  thread_ = std::thread([this] {
    nameThisThread("kolo-tcp-io");
    run();
  });
}

TcpIoLoop::~TcpIoLoop() {
  stop();
  if (epoll_ >= 0) ::close(epoll_);
  if (event_ >= 0) ::close(event_);
}

void TcpIoLoop::stop() {
  stop_.store(true);
  post([] {});
  if (thread_.joinable()) thread_.join();
}

void TcpIoLoop::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(task));
  }
  const uint64_t one = 1;
  (void)!::write(event_, &one, sizeof one);
}

void TcpIoLoop::reclaim() {
  // Pairs with leave(): either it sees this store and keeps the lane, or this load sees the
  // lane left and arms it again.
  lastCallerPoll_.store(0, std::memory_order_seq_cst);
  if (anyLeft_.load(std::memory_order_seq_cst)) takeBack();
}

bool TcpIoLoop::callersActive() const {
  if (parkedCallers_.load(std::memory_order_seq_cst) > 0) return true;
  const int64_t last = lastCallerPoll_.load(std::memory_order_seq_cst);
  return last != 0 && Clock::now().time_since_epoch().count() - last < windowTicks_;
}

void TcpIoLoop::leave(int lane) {
  left_[static_cast<size_t>(lane)].store(true, std::memory_order_seq_cst);
  anyLeft_.store(true, std::memory_order_seq_cst);
  if (callersActive()) return;
  // A reclaim came in between; it may have armed the lane already, which rearm repeats.
  // anyLeft_ stays set until the next takeBack, which only costs a look.
  left_[static_cast<size_t>(lane)].store(false, std::memory_order_seq_cst);
}

void TcpIoLoop::takeBack() {
  std::lock_guard lock(armMutex_);
  anyLeft_.store(false, std::memory_order_seq_cst);
  for (size_t lane = 0; lane < laneCount_; ++lane) {
    if (left_[lane].exchange(false, std::memory_order_seq_cst)) rearmLocked(static_cast<int>(lane));
  }
}

void TcpIoLoop::armRead(int lane) {
  Lane& l = lanes_[static_cast<size_t>(lane)];
  if (l.gone || l.wantRead) return;
  l.wantRead = true;
  rearm(lane);
}

void TcpIoLoop::armWrite(int lane) {
  Lane& l = lanes_[static_cast<size_t>(lane)];
  if (l.gone || l.wantWrite) return;
  l.wantWrite = true;
  rearm(lane);
}

void TcpIoLoop::rearm(int lane) {
  std::lock_guard lock(armMutex_);
  rearmLocked(lane);
}

void TcpIoLoop::rearmLocked(int lane) {
  Lane& l = lanes_[static_cast<size_t>(lane)];
  if (l.gone) return;
  uint32_t mask = 0;
  if (l.wantRead && !leftToCallers(lane)) mask |= EPOLLIN | EPOLLRDHUP;
  if (l.wantWrite) mask |= EPOLLOUT;
  if (mask == 0) return;  // one-shot: it fired and stays off until something is wanted
  epoll_event ev{};
  ev.events = mask | EPOLLONESHOT;
  ev.data.u64 = static_cast<uint64_t>(lane);
  // A lane whose socket was just closed (its handler saw the end) is off the set already.
  if (::epoll_ctl(epoll_, EPOLL_CTL_MOD, l.fd, &ev) != 0 && errno != EBADF && errno != ENOENT) {
    KOLO_LOG(kError, "tcp", "cannot watch connection {}: {}", lane, std::strerror(errno));
  }
}

void TcpIoLoop::handle(int lane, uint32_t events) {
  Lane& l = lanes_[static_cast<size_t>(lane)];
  if (l.gone) return;
  if (l.wantWrite && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
    l.wantWrite = handlers_.onWritable(lane);
  }
  if (l.wantRead && (events & (EPOLLIN | kBroken)) != 0) {
    switch (handlers_.onReadable(lane)) {
      case Read::kMore:
        break;
      case Read::kWouldBlock:
        // Read, and callers poll: the next bytes are theirs (rearm keeps what else it waits
        // for). Not where waiters do not spin (more ranks than cores, KOLO_SPIN=off): there
        // they park at once or lose their core, and this thread's reads are the progress.
        if ((events & kBroken) == 0 && CpuContention::waitersSpin() && callersActive()) {
          leave(lane);
        }
        break;
      case Read::kPaused:
        l.wantRead = false;
        break;
      case Read::kClosed:  // the handler closed the socket, which left the epoll set
        l.gone = true;
        return;
    }
  }
  rearm(lane);
}

void TcpIoLoop::runPosted() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
}

void TcpIoLoop::run() {
  epoll_event events[kMaxEvents];
  while (!stop_.load()) {
    const int n = ::epoll_wait(epoll_, events, kMaxEvents, anyLeft() ? sliceMs_ : -1);
    if (n < 0 && errno != EINTR) {
      KOLO_LOG(kError, "tcp", "the io thread's epoll_wait failed: {}", std::strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kEventKey) {
        uint64_t count = 0;
        (void)!::read(event_, &count, sizeof count);
        continue;
      }
      handle(static_cast<int>(events[i].data.u64), events[i].events);
    }
    runPosted();
    if (anyLeft() && !callersActive()) takeBack();
  }
}

}  // namespace kolo::tcp
