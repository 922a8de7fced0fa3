#include "kolo/collectives/doorbell.h"

#include <linux/futex.h>
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
  words_->epoch.fetch_add(1, std::memory_order_acq_rel);
  // The seq_cst fence pairs with the one in wait(): either the waiter sees the new epoch
  // before sleeping, or we see its sleeper count and wake it.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (words_->sleepers.load(std::memory_order_relaxed) != 0) {
    futex(&words_->epoch, shared_ ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr);
  }
}

void Doorbell::wait(uint32_t seen, std::chrono::microseconds timeout) {
  if (timeout.count() <= 0) return;
  words_->sleepers.fetch_add(1, std::memory_order_acq_rel);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (words_->epoch.load(std::memory_order_acquire) == seen) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000);
    ts.tv_nsec = static_cast<long>((timeout.count() % 1000000) * 1000);
    futex(&words_->epoch, shared_ ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, seen, &ts);
  }
  words_->sleepers.fetch_sub(1, std::memory_order_acq_rel);
}

}  // namespace kolo
