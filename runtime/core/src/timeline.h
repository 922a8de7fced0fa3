// Timeline: a Chrome-trace JSON file (KOLO_TIMELINE=file.json at init, or start()/stop() at run
// time; open it in Perfetto or chrome://tracing) written by rank 0. One row per tensor shows
// WAIT_FOR_PEERS from submit to the start of its collective (with the fusion-buffer copies of
// packed batches), a "RANK r READY" mark when each rank's request reached negotiation, then the
// collective itself (ALLREDUCE, FUSED_ALLREDUCE, ...), whose args carry the batch's phase split
// (copy_us, reduce_us, transfer_us, other_us over the whole batch, fusion-buffer copies
// included, and `batch`, a number shared by the tensors of one batch); with cycle marking, a row
// per process set marks each coordinator cycle. With per-link counters (TCP), a "LINK rank r"
// counter track per peer plots, after each batch, the MB sent to and received from it since the
// last point and the rate its sends achieved (bytes over the time a send to it was in flight): a
// slow link is the track whose rate sits below the others'. Events are appended as they happen, so
// a crashed job still leaves a readable prefix; stop() closes the array so the file is complete
// JSON. While no file is open every event method returns after one atomic load, so an idle Timeline
// costs the coordinator nothing measurable. Thread: any; one mutex around the file (coordinators of
// several process sets share it).
#pragma once

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <span>
#include <string>

#include "kolo/base/deadline.h"
#include "kolo/base/status.h"
#include "kolo/collectives/peer_traffic.h"
#include "kolo/collectives/phase_clock.h"
#include "kolo/core/fusion_planner.h"
#include "kolo/core/response.h"

namespace kolo::core {

class Timeline {
 public:
  Timeline() = default;
  ~Timeline();  // closes an open file
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // Starts a new file at `path` (truncated). Starting again with the path already being
  // written is a no-op; another path while one is open is kInvalidUsage (stop() first).
  Status start(const std::string& path, bool markCycles);
  // Closes the file, leaving complete JSON; a no-op when none is open.
  void stop();
  bool active() const { return active_.load(std::memory_order_acquire); }

  void submitted(int32_t processSet, const std::string& name, Clock::time_point at);
  void cycle(int32_t processSet, uint64_t cycle, size_t responses);
  // `rank`'s request for `name` reached negotiation (cache hits are not negotiated).
  void arrived(int32_t processSet, const std::string& name, int32_t rank);
  // `packed`/`reduced` (packed batches only) split the span into MEMCPY_IN_FUSION_BUFFER,
  // the collective and MEMCPY_OUT_FUSION_BUFFER. `phases` (may be null): the phase clock's
  // reading over [start, end], written as args of the collective's events.
  void batch(int32_t processSet, const FusedBatch& batch, std::span<const Response> responses,
             Clock::time_point start, Clock::time_point end, Clock::time_point packed = {},
             Clock::time_point reduced = {}, const PhaseTotals* phases = nullptr);
  // The process set's per-link totals (linkTraffic(), indexed by set rank; `members` maps set
  // ranks to world ranks). Writes a counter point for each link that moved bytes since the
  // last call.
  void traffic(int32_t processSet, std::span<const int32_t> members,
               std::span<const PeerTraffic> totals);

 private:
  int rowOf(int32_t processSet, const std::string& name);  // caller holds mutex_
  void write(const std::string& event);                    // caller holds mutex_
  void close();                                            // caller holds mutex_
  double micros(Clock::time_point t) const;

  std::mutex mutex_;
  std::atomic<bool> active_{false};  // file_ is open; written under mutex_
  std::FILE* file_ = nullptr;
  std::string path_;
  bool markCycles_ = false;
  Clock::time_point origin_ = Clock::now();
  std::map<std::pair<int32_t, std::string>, int> rows_;
  std::map<std::pair<int32_t, std::string>, Clock::time_point> submittedAt_;
  std::map<std::pair<int32_t, int32_t>, PeerTraffic> lastTraffic_;  // (set, world rank)
  bool first_ = true;
  uint64_t batches_ = 0;  // numbers the batches written, for the `batch` arg
};

}  // namespace kolo::core
