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

class Doorbell {
 public:
  // `words` must outlive the Doorbell. `shared` selects a process-shared futex.
  explicit Doorbell(DoorbellWords* words, bool shared) : words_(words), shared_(shared) {}
  uint32_t epoch() const { return words_->epoch.load(std::memory_order_acquire); }
  void ring();
  // Returns when epoch() != seen or after timeout (spurious returns allowed).
  void wait(uint32_t seen, std::chrono::microseconds timeout);

 private:
  DoorbellWords* words_;
  bool shared_;
};

// A Doorbell with its own storage, for in-process transports.
class LocalDoorbell {
 public:
  LocalDoorbell() : bell_(&words_, false) {}
  Doorbell& bell() { return bell_; }

 private:
  DoorbellWords words_;
  Doorbell bell_;
};

}  // namespace kolo
