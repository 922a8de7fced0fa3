// PendingOp: one submitted tensor between submit and completion: the Request that goes to
// negotiation, the caller's buffers, and the state its Handle watches.
// Thread: created on a caller thread, then owned by the coordinator (see TensorTable).
#pragma once

#include <memory>

#include "kolo/base/deadline.h"
#include "kolo/core/handle.h"
#include "kolo/core/request.h"
#include "kolo/core/tensor.h"

namespace kolo::core {

struct PendingOp {
  Request request;
  Tensor tensor;
  std::shared_ptr<OpState> state;
  size_t part = 0;  // this tensor's index in a grouped op: where its OpResult goes
  Clock::time_point submittedAt = Clock::now();
  // Coordinator only: the request went to negotiation (it is no longer a cache candidate).
  bool sent = false;
  bool drawn = false;          // coordinator only: it took the op into a cycle
  bool stallWarned = false;    // coordinator only: older than the warning time
  bool stallReported = false;  // coordinator only: the warning was logged
  bool taken = false;          // coordinator only: its response ran (or failed) this cycle
  uint64_t flightId = 0;       // coordinator only: its FlightRecorder entry (0: none)
  // Coordinator only: the caller's output (Tensor::outputBytes) did not fit the result, which
  // went to an allocated buffer instead; the op completes with this error.
  Status outputError;

  OpResult& result() const { return state->mutableResult(part); }
  // Where allreduce and broadcast write their result.
  void* output() const { return tensor.output ? tensor.output : const_cast<void*>(tensor.data); }
  // Where a row op's result of `bytes` goes: the caller's output when it gave one (exactly that
  // size), else a buffer allocated in its OpResult (setting outputError when the caller's output
  // was of another size, so the collective still runs on every rank).
  std::byte* placeResult(size_t bytes);
};
using PendingOpPtr = std::shared_ptr<PendingOp>;

}  // namespace kolo::core
