// Fault injection at exact protocol points, for the fault-matrix tests and for showing what a
// job does when a rank dies, freezes or loses its connections.
//
//   KOLO_FAULT_INJECT="rank=2,op=allreduce,seq=57,phase=reduce_scatter,action=kill"
//
// fires once, on global rank 2, when its allreduce number 57 (counted from 0 on that rank, in
// the order the ops run, which is the same on every rank) reaches the reduce-scatter stage.
// Several specs may be joined with ';'. FaultSpec::parse is a plain function, unit-tested; the
// hooks (faultPoint, FaultOpScope) cost one predictable branch when the variable is unset, and
// nothing at all when the build has KOLO_FAULT_INJECTION=OFF.
//
// Where the points are: negotiation (the coordinator's cycle, before the cache votes and
// request lists are exchanged), fusion_copy (packing tensors into the fusion buffer),
// reduce_scatter and allgather (the two halves of the ring allreduce, and the reduce and
// copy-out halves of the shared-memory arena allreduce), hier_cross (the cross-host stage of a
// hierarchical allreduce: faultPoint(FaultPhase::kHierCross) is there for it to call).
// Thread: any; each thread has its own current op (FaultOpScope).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/base/status.h"

namespace kolo {

enum class FaultPhase { kAny, kNegotiation, kFusionCopy, kReduceScatter, kAllgather, kHierCross };
enum class FaultAction { kKill, kStop, kExit, kAbort, kDropConn, kDelay, kCorrupt };

const char* faultPhaseName(FaultPhase phase);
const char* faultActionName(FaultAction action);

struct FaultSpec {
  int rank = -1;     // global rank that misbehaves (required)
  std::string op;    // "allreduce", ...; empty: any op
  int64_t seq = -1;  // the op's number on that rank, from 0; -1: the first that matches
  FaultPhase phase = FaultPhase::kAny;
  FaultAction action = FaultAction::kKill;
  // exit code for exit:N, milliseconds for delay_ms:N, the TCP stream for drop_conn:S (-1:
  // plain drop_conn, every connection)
  int64_t argument = 0;

  // "rank=2,op=allreduce,seq=57,phase=reduce_scatter,action=exit:3". Errors name the field.
  static Expected<FaultSpec> parse(std::string_view text);
  // ';'-separated list of specs.
  static Expected<std::vector<FaultSpec>> parseList(std::string_view text);
  std::string describe() const;
};

namespace fault_detail {
// 0: KOLO_FAULT_INJECT not read yet, 1: unset (the hooks return at once), 2: armed.
extern std::atomic<int> gState;
void fireSlow(FaultPhase phase, std::span<std::byte> payload);
bool openOpSlow(int rank, std::string_view op, int64_t count, int domain);
void closeOpSlow();
bool takeCorruptFrameSlow();
}  // namespace fault_detail

// A protocol point. `payload` is what action=corrupt flips a byte of (a control message about
// to be sent); data phases pass nothing, and corrupt there arms faultTakeCorruptFrame().
inline void faultPoint(FaultPhase phase, std::span<std::byte> payload = {}) {
#if KOLO_FAULT_INJECTION
  if (fault_detail::gState.load(std::memory_order_relaxed) != 1) [[unlikely]] {
    fault_detail::fireSlow(phase, payload);
  }
#else
  (void)phase;
  (void)payload;
#endif
}

// Data phases have no control message: there action=corrupt arms a flipped byte in the next TCP
// data frame this process sends, after its checksum was computed, as corruption in transit
// would. The TCP transport asks once per frame; true once per firing.
inline bool faultTakeCorruptFrame() {
#if KOLO_FAULT_INJECTION
  if (fault_detail::gState.load(std::memory_order_relaxed) == 2) [[unlikely]] {
    return fault_detail::takeCorruptFrameSlow();
  }
#endif
  return false;
}

// Marks the calling thread as running op `op` of global rank `rank`; `count` ops of that kind
// (a fused batch of tensors) take the next numbers. Nested scopes (the runtime's executor calls
// the collectives' entry points) keep the outer op. Scopes of op "" only hide inner ops from
// the count (the coordinator's own negotiation collectives are not user ops). `domain` keeps
// separate counts: ops are numbered once as they enter negotiation (kNegotiationCount) and
// once as they run (kExecutionCount); for ops a rank submits one after another the numbers
// agree.
inline constexpr int kExecutionCount = 0;
inline constexpr int kNegotiationCount = 1;
class FaultOpScope {
 public:
  // `op` is only read when a fault plan is armed, so callers pass a name they already have
  // (no string is built per op when KOLO_FAULT_INJECT is unset).
  FaultOpScope(int rank, std::string_view op, int64_t count = 1, int domain = kExecutionCount) {
#if KOLO_FAULT_INJECTION
    if (fault_detail::gState.load(std::memory_order_relaxed) != 1) [[unlikely]] {
      opened_ = fault_detail::openOpSlow(rank, op, count, domain);
    }
#else
    (void)rank;
    (void)op;
    (void)count;
    (void)domain;
#endif
  }
  ~FaultOpScope() {
    if (opened_) fault_detail::closeOpSlow();
  }
  FaultOpScope(const FaultOpScope&) = delete;
  FaultOpScope& operator=(const FaultOpScope&) = delete;

 private:
  bool opened_ = false;
};

// What action=drop_conn severs: transports register how to cut their connections (TCP shuts
// its sockets down, so peers see the connection end at once). `stream` is -1 for every
// connection, or S for drop_conn:S: only the TCP connections that are stream S of their peer
// pair (KOLO_TCP_STREAMS > S), one striped connection dying under a transfer. Returns an id for
// unregistering.
int registerFaultSever(std::function<void(int stream)> sever);
void unregisterFaultSever(int id);
// True once this process fired drop_conn: its own waits then fail instead of hanging.
bool faultSevered();

// OK, or why KOLO_FAULT_INJECT does not parse (the Engine refuses to start with a bad spec).
Status faultPlanStatus();

// Tests: replaces the plan read from KOLO_FAULT_INJECT (empty: disarmed) and resets the counts.
void setFaultPlanForTesting(std::vector<FaultSpec> plan);
// Tests: a fired action calls this instead of acting (kill, stop, exit, abort would end the
// test process). Null restores the real actions.
void setFaultActionHookForTesting(std::function<void(const FaultSpec&, FaultPhase)> hook);

}  // namespace kolo
