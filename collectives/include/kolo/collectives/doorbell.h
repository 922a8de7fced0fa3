// Doorbell: a futex word that waiters park on and producers ring.
// The word may live in a POSIX shared-memory segment (cross-process) or in ordinary memory.
// ring() costs one atomic increment and, only when somebody sleeps, one futex wake.
// Thread: any; process: any that maps the words.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kolo {

struct DoorbellWords {
  std::atomic<uint32_t> epoch{0};
  std::atomic<uint32_t> sleepers{0};
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// An eventfd that ring() also signals while a waiter sleeps in poll() on it (beside sockets)
// rather than on the futex: see Doorbell::attachFdWake. In-process doorbells only.
struct DoorbellFdWake {
  int fd = -1;
  std::atomic<uint32_t> sleepers{0};
};

class Doorbell {
 public:
  // `words` must outlive the Doorbell. `shared` selects a process-shared futex.
  explicit Doorbell(DoorbellWords* words, bool shared) : words_(words), shared_(shared) {}
  uint32_t epoch() const { return words_->epoch.load(std::memory_order_acquire); }
  void ring();
  // Returns when epoch() != seen or after timeout (spurious returns allowed).
  void wait(uint32_t seen, std::chrono::microseconds timeout);

  // Waiters may also sleep in poll() on `wake->fd` (with other descriptors beside it):
  // beginFdWait, poll, endFdWait. `wake` must outlive the Doorbell.
  void attachFdWake(DoorbellFdWake* wake) { fdWake_ = wake; }
  // Registers a poll() sleeper; false when the epoch already moved past `seen` (do not sleep).
  bool beginFdWait(uint32_t seen);
  // After the poll(): the last sleeper out clears the eventfd.
  void endFdWait();

 private:
  DoorbellWords* words_;
  bool shared_;
  DoorbellFdWake* fdWake_ = nullptr;
};

// A Doorbell with its own storage, for in-process transports.
class LocalDoorbell {
 public:
  LocalDoorbell() : bell_(&words_, false) {}
  ~LocalDoorbell();
  LocalDoorbell(const LocalDoorbell&) = delete;
  LocalDoorbell& operator=(const LocalDoorbell&) = delete;
  Doorbell& bell() { return bell_; }
  // Lets waiters sleep in poll() beside other descriptors (Doorbell::beginFdWait): creates the
  // eventfd ring() signals while they do. Returns it, or -1 (eventfd failed: futex waits only).
  // Before other threads use the bell.
  int enableFdWake();

 private:
  DoorbellWords words_;
  DoorbellFdWake fdWake_;  // its eventfd lives as long as the bell: any holder may ring
  Doorbell bell_;
};

}  // namespace kolo
