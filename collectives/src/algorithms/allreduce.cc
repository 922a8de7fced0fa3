// allreduce entry point (checks arguments, lets a native library or the registry's choice run
// it) and the runners of its registry entries.
#include <cstring>

#include "algorithms/hierarchical.h"
#include "algorithms/internal.h"
#include "kolo/base/fault_injection.h"
#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/native_collectives.h"
#include "kolo/collectives/phase_clock.h"
#include "kolo/collectives/reduce.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo::coll {
namespace {

// Every allreduce runner works on recv: the channel algorithms reduce in place, so they first
// copy send there (nothing to copy in place, nothing to reduce alone).
bool copyToRecv(const Communicator& comm, const CollectiveArgs& args) {
  const size_t bytes = args.count * dataTypeSize(args.type);
  if (args.send != args.recv && bytes != 0) {
    ScopedPhase phase(Phase::kCopy);
    std::memcpy(args.recv, args.send, bytes);
  }
  return comm.size() > 1;
}

}  // namespace

Status runShmAllreduce(Communicator& comm, const CollectiveArgs& a) {
  return comm.arena()
      ->allreduce(a.send, a.recv, a.count, a.type, a.op, comm.opDeadline())
      .withContext("allreduce (shm)");
}

Status runHierarchicalAllreduce(Communicator& comm, const CollectiveArgs& a) {
  if (!copyToRecv(comm, a)) return Status::ok();
  return hierarchicalAllreduce(comm, a.recv, a.count, a.type, a.op);
}

Status runRecursiveDoublingAllreduce(Communicator& comm, const CollectiveArgs& a) {
  if (!copyToRecv(comm, a)) return Status::ok();
  return recursiveDoublingAllreduce(comm, a.recv, a.count, a.type, a.op, a.tagBase)
      .withContext("allreduce (rd)");
}

Status runRingAllreduce(Communicator& comm, const CollectiveArgs& a) {
  if (!copyToRecv(comm, a)) return Status::ok();
  return ringAllreduce(comm, a.recv, a.count, a.type, a.op, a.tagBase)
      .withContext("allreduce (ring)");
}

Status allreduce(Communicator& comm, const void* send, void* recv, size_t count, DataType type,
                 ReduceOp op, std::string_view algorithm) {
  // checkDataType admits the elementwise ops; op=adasum's own rules are checked below.
  const ReduceOp elementwise = op == ReduceOp::kAdasum ? ReduceOp::kSum : op;
  KOLO_RETURN_IF_ERROR(checkDataType(type, elementwise).withContext("allreduce"));
  KOLO_RETURN_IF_ERROR(checkBuffer(send, count, "send").withContext("allreduce"));
  KOLO_RETURN_IF_ERROR(checkBuffer(recv, count, "recv").withContext("allreduce"));
  KOLO_ASSIGN_OR_RETURN(const AlgorithmEntry* requested,
                        resolveAlgorithm(CollectiveKind::kAllreduce, algorithm));
  // Adasum is chosen by the op, never by a policy or a native library (which has no such op).
  const bool adasum = op == ReduceOp::kAdasum;
  if (adasum) {
    KOLO_RETURN_IF_ERROR(checkAdasum(comm, type).withContext("allreduce"));
    requested = findAlgorithm(CollectiveKind::kAllreduce, "adasum");
  }
  const uint64_t tagBase = comm.beginCollective();
  // Numbers this allreduce for KOLO_FAULT_INJECT (the runtime's executor already did).
  FaultOpScope faultOp(comm.rank(), "allreduce");
  const CollectiveArgs args{
      .send = send, .recv = recv, .count = count, .type = type, .op = op, .tagBase = tagBase};
  if (adasum) return requested->run(comm, args);
  // An explicit algorithm runs Kolo's own over the transport; auto lets a native library run it.
  NativeCollectives* native = comm.transport().nativeCollectives();
  if (requested == nullptr && native != nullptr && comm.size() > 1) {
    if (auto s = native->allreduce(send, recv, count, type, op, comm.opDeadline())) {
      return s->withContext(fmt::format("allreduce ({})", native->name()));
    }
  }
  return runChosen(comm, CollectiveKind::kAllreduce, requested, count * dataTypeSize(type), args);
}

bool allreduceRunsOnArena(Communicator& comm, size_t bytes, std::string_view algorithm) {
  if (comm.arena() == nullptr || comm.size() == 1) return false;
  Expected<const AlgorithmEntry*> requested =
      resolveAlgorithm(CollectiveKind::kAllreduce, algorithm);
  if (!requested) return false;
  if (*requested == nullptr && comm.transport().nativeCollectives() != nullptr) return false;
  const AlgorithmEntry* chosen = *requested;
  if (chosen == nullptr || !canRun(*chosen, selectionContext(comm, bytes))) {
    chosen = &selectAlgorithm(comm, CollectiveKind::kAllreduce, bytes);
  }
  return chosen->run == runShmAllreduce;
}

std::optional<Status> allreduceSegments(Communicator& comm,
                                        std::span<const ShmArena::Segment> segments,
                                        DataType type, ReduceOp op, std::string_view algorithm) {
  if (op == ReduceOp::kAdasum) return std::nullopt;
  size_t count = 0;
  for (const ShmArena::Segment& g : segments) count += g.count;
  if (!allreduceRunsOnArena(comm, count * dataTypeSize(type), algorithm)) return std::nullopt;
  for (const ShmArena::Segment& g : segments) {
    KOLO_RETURN_IF_ERROR(checkBuffer(g.send, g.count, "send").withContext("allreduce"));
    KOLO_RETURN_IF_ERROR(checkBuffer(g.recv, g.count, "recv").withContext("allreduce"));
  }
  KOLO_RETURN_IF_ERROR(checkDataType(type, op).withContext("allreduce"));
  comm.beginCollective();  // in step with the ranks' collective sequence, as allreduce keeps it
  FaultOpScope faultOp(comm.rank(), "allreduce");
  return comm.arena()
      ->allreduceSegments(segments, type, op, comm.opDeadline())
      .withContext("allreduce (shm)");
}

}  // namespace kolo::coll
