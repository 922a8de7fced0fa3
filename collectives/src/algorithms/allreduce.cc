// allreduce entry point: checks arguments, picks the algorithm, runs it in place on recv.
#include <cstring>

#include "algorithms/hierarchical.h"
#include "algorithms/internal.h"
#include "kolo/base/fault_injection.h"
#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/native_collectives.h"
#include "kolo/collectives/reduce.h"
#include "kolo/collectives/shm_arena.h"

namespace kolo::coll {

Status checkBuffer(const void* buffer, size_t count, const char* name) {
  if (buffer == nullptr && count != 0) {
    return makeStatus(Code::kInvalidArgument, "{} is null but {} elements/bytes were requested",
                      name, count);
  }
  return Status::ok();
}

Status checkCounts(std::span<const size_t> counts, int worldSize, const char* name) {
  if (counts.size() != static_cast<size_t>(worldSize)) {
    return makeStatus(Code::kInvalidArgument, "{} has {} entries, expected one per rank ({})", name,
                      counts.size(), worldSize);
  }
  return Status::ok();
}

Status checkDataType(DataType type, ReduceOp op) {
  if (dataTypeSize(type) == 0) {
    return makeStatus(Code::kInvalidArgument, "unknown data type {}", static_cast<int>(type));
  }
  if (static_cast<int>(op) > static_cast<int>(ReduceOp::kProduct)) {
    return makeStatus(Code::kInvalidArgument, "unknown reduce op {}", static_cast<int>(op));
  }
  return Status::ok();
}

Status allreduce(Communicator& comm, const void* send, void* recv, size_t count, DataType type,
                 ReduceOp op, AllreduceAlgorithm algorithm) {
  KOLO_RETURN_IF_ERROR(checkDataType(type, op).withContext("allreduce"));
  KOLO_RETURN_IF_ERROR(checkBuffer(send, count, "send").withContext("allreduce"));
  KOLO_RETURN_IF_ERROR(checkBuffer(recv, count, "recv").withContext("allreduce"));
  const size_t bytes = count * dataTypeSize(type);
  const AllreduceAlgorithm requested = algorithm;
  const bool hasSubgroups =
      comm.subgroup(Subgroup::kNode) != nullptr && comm.subgroup(Subgroup::kCross) != nullptr;
  if (algorithm == AllreduceAlgorithm::kAuto ||
      (algorithm == AllreduceAlgorithm::kShm && comm.arena() == nullptr) ||
      (algorithm == AllreduceAlgorithm::kHierarchical && !hasSubgroups)) {
    algorithm = selectAllreduce(comm, bytes);
  }
  const uint64_t tagBase = comm.beginCollective();
  // Numbers this allreduce for KOLO_FAULT_INJECT (the runtime's executor already did).
  FaultOpScope faultOp(comm.rank(), "allreduce");
  // An explicit algorithm runs Kolo's own over the transport; kAuto lets a native library run it.
  NativeCollectives* native = comm.transport().nativeCollectives();
  if (requested == AllreduceAlgorithm::kAuto && native != nullptr && comm.size() > 1) {
    if (auto s = native->allreduce(send, recv, count, type, op, comm.opDeadline())) {
      return s->withContext(fmt::format("allreduce ({})", native->name()));
    }
  }
  if (algorithm == AllreduceAlgorithm::kShm) {
    return comm.arena()
        ->allreduce(send, recv, count, type, op, comm.opDeadline())
        .withContext("allreduce (shm)");
  }
  if (send != recv && bytes != 0) std::memcpy(recv, send, bytes);
  if (comm.size() == 1) return Status::ok();
  if (algorithm == AllreduceAlgorithm::kHierarchical) {
    return hierarchicalAllreduce(comm, recv, count, type, op);
  }
  if (algorithm == AllreduceAlgorithm::kRecursiveDoubling) {
    return recursiveDoublingAllreduce(comm, recv, count, type, op, tagBase)
        .withContext("allreduce (rd)");
  }
  return ringAllreduce(comm, recv, count, type, op, tagBase).withContext("allreduce (ring)");
}

}  // namespace kolo::coll
