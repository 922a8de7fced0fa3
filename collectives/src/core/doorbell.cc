#include "kolo/collectives/doorbell.h"

#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>

namespace kolo {
namespace {

long futex(std::atomic<uint32_t>* word, int op, uint32_t value, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, timeout, nullptr, 0);
}

}  // namespace

void Doorbell::ring() {
  // seq_cst increment and load, paired with wait()'s: in their single order either the waiter
  // sees the new epoch before sleeping, or this sees its sleeper count and wakes it (no fence:
  // on x86 the locked increment already orders the load after it).
  words_->epoch.fetch_add(1, std::memory_order_seq_cst);
  if (words_->sleepers.load(std::memory_order_seq_cst) != 0) {
    futex(&words_->epoch, shared_ ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr);
  }
  if (fdWake_ != nullptr && fdWake_->sleepers.load(std::memory_order_seq_cst) != 0) {
    const uint64_t one = 1;
    (void)!::write(fdWake_->fd, &one, sizeof one);
  }
}

bool Doorbell::beginFdWait(uint32_t seen) {
  // seq_cst, paired with ring()'s: either this sees the new epoch, or ring() sees the sleeper
  // and signals the eventfd, which the poll() then finds readable.
  fdWake_->sleepers.fetch_add(1, std::memory_order_seq_cst);
  if (words_->epoch.load(std::memory_order_seq_cst) == seen) return true;
  endFdWait();
  return false;
}

void Doorbell::endFdWait() {
  // Only the last sleeper drains the counter: one that drained while another was about to
  // poll would leave that one asleep until its timeout. A signal left for a later sleeper only
  // makes its poll return at once (a spurious return, which waits allow).
  if (fdWake_->sleepers.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    uint64_t count = 0;
    (void)!::read(fdWake_->fd, &count, sizeof count);
  }
}

void Doorbell::wait(uint32_t seen, std::chrono::microseconds timeout) {
  if (timeout.count() <= 0) return;
  words_->sleepers.fetch_add(1, std::memory_order_seq_cst);  // paired with ring()
  if (words_->epoch.load(std::memory_order_seq_cst) == seen) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000);
    ts.tv_nsec = static_cast<long>((timeout.count() % 1000000) * 1000);
    futex(&words_->epoch, shared_ ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, seen, &ts);
  }
  words_->sleepers.fetch_sub(1, std::memory_order_acq_rel);
}

LocalDoorbell::~LocalDoorbell() {
  if (fdWake_.fd >= 0) ::close(fdWake_.fd);
}

int LocalDoorbell::enableFdWake() {
  if (fdWake_.fd < 0) {
    fdWake_.fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fdWake_.fd >= 0) bell_.attachFdWake(&fdWake_);
  }
  return fdWake_.fd;
}

}  // namespace kolo
