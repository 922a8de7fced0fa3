// ProcessSetRuntime: the coordinator of one process set (the world is set 0). It owns the
// set's communicator, TensorTable, ResponseCache, negotiator replica, fusion planner and the
// coordinator thread that runs cycles.
//
// Cycles without polling: the thread parks on the transport's doorbell until there is new
// local work or a peer started a cycle. A rank that starts cycle k for its own work first
// sends go(k), 8 bytes on a control tag, to every member; idle members keep one receive per
// peer posted for it and wake on it; go(j) with j <= the current cycle is stale and ignored.
// All members therefore run the same cycles in the same order, and an idle set costs nothing.
//
// One cycle: (1) one allgather of every member's cache vote words plus the size of its
// uncached RequestList, ANDed locally: in steady state that is the whole negotiation;
// (2) only if some member has uncached requests, an allgatherv of the lists, which every
// member feeds to its own Negotiator replica (the negotiator is deterministic, so the replicas
// agree and no broadcast of the answer is needed); (3) cache hits then negotiated responses
// form one ordered list, FusionPlanner batches it and OpExecutor runs the batches.
// Thread: submit/requestShutdown on caller threads; everything else on the coordinator.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kolo/collectives/communicator.h"
#include "kolo/core/engine_config.h"
#include "kolo/core/fusion_buffer_pool.h"
#include "kolo/core/fusion_planner.h"
#include "kolo/core/negotiator.h"
#include "kolo/core/response_cache.h"
#include "flight_recorder.h"
#include "op_executor.h"
#include "pending_op.h"
#include "stall_inspector.h"
#include "tensor_table.h"

namespace kolo::core {

class Timeline;

class ProcessSetRuntime {
 public:
  // Tags of go messages: the high bit keeps them apart from Communicator::beginCollective().
  static constexpr uint64_t kGoTag = (uint64_t{1} << 63) | 1;

  ProcessSetRuntime(int32_t id, std::vector<int32_t> members, int32_t globalRank,
                    std::shared_ptr<Communicator> comm, const EngineConfig& config,
                    std::shared_ptr<Timeline> timeline);
  ~ProcessSetRuntime();
  ProcessSetRuntime(const ProcessSetRuntime&) = delete;
  ProcessSetRuntime& operator=(const ProcessSetRuntime&) = delete;

  // Before start(): where this set records its ops (shared by the Engine's sets; may be null).
  void setFlightRecorder(std::shared_ptr<FlightRecorder> recorder) {
    recorder_ = std::move(recorder);
  }
  void start();
  int32_t id() const { return id_; }
  const std::vector<int32_t>& members() const { return members_; }
  Communicator& comm() { return *comm_; }

  // Records the ops and wakes the coordinator; fails at once on duplicates, after a join on
  // this rank, or once the set failed or stopped.
  Status submit(const std::vector<PendingOpPtr>& ops);
  // Tells the other members this rank is done; the coordinator stops once all are.
  void requestShutdown();
  // Waits for the coordinator to stop; past the deadline it is forced out (pending ops fail).
  Status waitStopped(Deadline deadline);

 private:
  void run();
  Status runCycle();
  Status executeResponses(std::vector<Response>& ordered);
  void postGo(size_t peer);
  Status pollGo(uint64_t& target);
  Status sendGo(uint64_t cycle);
  void reapSends();
  bool hasLocalWork() const;
  void wakeCoordinator();
  void checkStalls();
  void abortStalled();
  void finish(const Status& status);
  // A transport-level failure is this rank's partial view; when kolorun's verdict is watched,
  // wait briefly for it so that every survivor reports the same failed rank.
  Status agreeOnFailure(Status local);
  // The verdict on a control message that failed its checksum (published to kolorun's store).
  Status corruptMessage(int32_t sender, const char* what);
  void recordDrawn(PendingOp& op);
  void recordArrivals();
  void record(const PendingOpPtr& op, FlightRecorder::State state, const Status& status = {});

  const int32_t id_;
  const std::vector<int32_t> members_;
  const int32_t globalRank_;
  std::shared_ptr<Communicator> comm_;
  const EngineConfig config_;
  std::shared_ptr<Timeline> timeline_;
  std::shared_ptr<FlightRecorder> recorder_;

  TensorTable table_;
  FusionBufferPool pool_;
  FusionPlanner planner_;
  ResponseCache cache_;
  Negotiator negotiator_;
  OpExecutor executor_;
  StallInspector stalls_;

  // Coordinator-only state.
  uint64_t cycle_ = 0;
  std::vector<PendingOpPtr> unsent_;  // cache candidates, looked up again every cycle
  bool retryNeeded_ = false;          // an unsent op stopped being a hit: run another cycle
  bool joinedLocal_ = false;
  bool shutdownSent_ = false;
  bool stallAbortLocal_ = false;  // this rank found an op past the stall shutdown time
  bool agreementWaited_ = false;  // agreeOnFailure already waited for kolorun's verdict
  struct GoSlot {
    uint64_t value = 0;
    RequestPtr request;
  };
  std::vector<GoSlot> goRecv_;  // index: member index; empty for this rank
  struct GoSend {
    std::unique_ptr<uint64_t> value;
    RequestPtr request;
  };
  std::vector<GoSend> goSend_;
  std::vector<uint64_t> voteWords_, allWords_;
  bool canWake_ = false;

  // Shared with caller threads.
  std::atomic<bool> shutdownRequested_{false};
  std::atomic<bool> forceStop_{false};
  std::atomic<bool> joinPending_{false};
  std::mutex stateMutex_;
  Status failure_;        // guarded by stateMutex_; set once the set stopped
  bool stopped_ = false;  // guarded by stateMutex_
  std::thread thread_;
};

}  // namespace kolo::core
