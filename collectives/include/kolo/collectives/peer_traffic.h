// Per-link traffic: the payload bytes a rank sent to and received from each peer, and how long
// each direction had a transfer in flight ("busy" time: from the first posted request until none
// is pending, so overlapping requests count once). Bytes over send busy time is the rate the
// link actually delivered; a slow link shows as one peer's rate well under the others'. The
// runtime's timeline plots these per peer (README.md, KOLO_TIMELINE).
// Thread: TrafficMeter is serialized by its owner (the TCP peer's mutex); linkTraffic() runs on
// the caller's thread and locks each peer briefly.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace kolo {

class Communicator;

struct PeerTraffic {
  uint64_t bytesSent = 0;
  uint64_t bytesReceived = 0;
  uint64_t sendBusyNanos = 0;
  uint64_t recvBusyNanos = 0;
  uint64_t sends = 0;  // completed successfully
  uint64_t recvs = 0;

  PeerTraffic& operator+=(const PeerTraffic& other);
};

// One direction of one link.
class TrafficMeter {
 public:
  using Clock = std::chrono::steady_clock;
  void begin(Clock::time_point now) {
    if (pending_++ == 0) busyFrom_ = now;
  }
  // A request begun earlier finished; its bytes count only when it succeeded.
  void end(Clock::time_point now, uint64_t bytes, bool ok) {
    if (ok) {
      bytes_ += bytes;
      ++count_;
    }
    if (pending_ > 0 && --pending_ == 0) {
      busyNanos_ += static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - busyFrom_).count());
    }
  }
  uint64_t bytes() const { return bytes_; }
  uint64_t count() const { return count_; }
  uint64_t busyNanos() const { return busyNanos_; }

 private:
  uint64_t bytes_ = 0, count_ = 0, busyNanos_ = 0;
  uint64_t pending_ = 0;
  Clock::time_point busyFrom_{};
};

// The traffic of `comm`'s rank with every other rank of its world, indexed by `comm` rank:
// its own transport's counters plus those of its node and cross subgroups (hierarchical
// algorithms move their bytes there), mapped back to `comm` ranks. Empty when the transports
// keep no counters (shared memory, MPI).
std::vector<PeerTraffic> linkTraffic(Communicator& comm);

}  // namespace kolo
