#include "kolo/collectives/gpu/nccl_backend.h"

#include <thread>

#include "kolo/collectives/collectives.h"

namespace kolo::gpu {

Expected<std::unique_ptr<NcclBackend>> NcclBackend::create(Communicator& comm, int32_t device) {
  std::unique_ptr<NcclBackend> b(new NcclBackend(device, comm.options().timeoutSeconds));
  KOLO_ASSIGN_OR_RETURN(b->stream_, DeviceStream::create(device));
  KOLO_ASSIGN_OR_RETURN(b->ordering_, DeviceEvent::create(device));
  auto shareId = [&comm](std::span<std::byte> id) {
    return coll::broadcast(comm, id.data(), id.size(), 0);
  };
  KOLO_ASSIGN_OR_RETURN(b->nccl_,
                        NcclCommunicator::create(comm.rank(), comm.size(), device, shareId));
  return b;
}

NcclBackend::~NcclBackend() {
  completions_.failAll(makeStatus(Code::kAborted,
                                  "rank {} (gpu:{}): the NCCL backend shut down before the op "
                                  "completed",
                                  nccl_ ? nccl_->rank() : -1, device_));
}

Status NcclBackend::waitFor(std::span<void* const> callerStreams) {
  KOLO_RETURN_IF_ERROR(useDevice(device_));
  for (void* s : callerStreams) KOLO_RETURN_IF_ERROR(orderAfter(stream(), s, *ordering_));
  return Status::ok();
}

Status NcclBackend::allreduceFused(DataType type, ReduceOp op, double prescale, double postscale,
                                   std::span<const FusionSlot> inputs,
                                   std::span<const FusionSlot> outputs, void* buffer,
                                   uint64_t totalBytes) {
  const size_t element = dataTypeSize(type);
  const ReductionScaling s = reductionScaling(op, prescale, postscale, size());
  KOLO_ASSIGN_OR_RETURN(std::vector<ScaledSegment> pack,
                        planPack(inputs, buffer, totalBytes, element));
  KOLO_RETURN_IF_ERROR(scaledCopy(type, pack, s.before, stream()));
  KOLO_RETURN_IF_ERROR(
      nccl_->allreduce(buffer, buffer, totalBytes / element, type, s.wireOp, stream()));
  return scaledCopy(type, planUnpack(outputs, buffer), s.after, stream());
}

Status NcclBackend::allreduce(DataType type, ReduceOp op, double prescale, double postscale,
                              const void* in, void* out, size_t count) {
  const uint64_t bytes = count * dataTypeSize(type);
  const ReductionScaling s = reductionScaling(op, prescale, postscale, size());
  if (!s.before.isIdentity()) {
    const ScaledSegment seg{in, out, bytes};
    KOLO_RETURN_IF_ERROR(scaledCopy(type, {&seg, 1}, s.before, stream()));
    in = out;
  }
  KOLO_RETURN_IF_ERROR(nccl_->allreduce(in, out, count, type, s.wireOp, stream()));
  return scale(type, out, count, s.after);
}

Status NcclBackend::broadcastFused(int root, std::span<const FusionSlot> inputs,
                                   std::span<const FusionSlot> outputs, void* buffer,
                                   uint64_t totalBytes) {
  if (rank() == root) {
    KOLO_ASSIGN_OR_RETURN(std::vector<ScaledSegment> pack, planPack(inputs, buffer, totalBytes, 1));
    KOLO_RETURN_IF_ERROR(scaledCopy(DataType::kUInt8, pack, {}, stream()));
  }
  KOLO_RETURN_IF_ERROR(nccl_->broadcast(buffer, totalBytes, root, stream()));
  return scaledCopy(DataType::kUInt8, planUnpack(outputs, buffer), {}, stream());
}

Status NcclBackend::broadcast(int root, const void* in, void* out, size_t bytes) {
  if (rank() == root && in != out) {
    KOLO_RETURN_IF_ERROR(copyAsync(out, in, bytes, CopyDirection::kDeviceToDevice, stream()));
  }
  return nccl_->broadcast(out, bytes, root, stream());
}

Status NcclBackend::scale(DataType type, void* data, size_t count, ElementScaling scaling) {
  if (scaling.isIdentity() || count == 0) return Status::ok();
  const ScaledSegment seg{data, data, count * dataTypeSize(type)};
  return scaledCopy(type, {&seg, 1}, scaling, stream());
}

Expected<std::unique_ptr<DeviceEvent>> NcclBackend::takeEvent() {
  if (idleEvents_.empty()) return DeviceEvent::create(device_);
  std::unique_ptr<DeviceEvent> e = std::move(idleEvents_.back());
  idleEvents_.pop_back();
  return e;
}

Status NcclBackend::complete(std::span<void* const> callerStreams, std::string what,
                             std::function<void(const Status&)> finish) {
  KOLO_ASSIGN_OR_RETURN(std::unique_ptr<DeviceEvent> taken, takeEvent());
  // Events are reused: the last reference (the finished entry) hands it back.
  std::shared_ptr<DeviceEvent> event(taken.release(), [this](DeviceEvent* e) {
    idleEvents_.push_back(std::unique_ptr<DeviceEvent>(e));
  });
  KOLO_RETURN_IF_ERROR(event->record(stream()));
  for (void* s : callerStreams) {
    if (s != stream()) KOLO_RETURN_IF_ERROR(event->makeWait(s));
  }
  CompletionList::Entry entry;
  entry.what = fmt::format("rank {} (gpu:{}): {}", rank(), device_, std::move(what));
  entry.ready = [this, event]() -> Expected<bool> {
    KOLO_ASSIGN_OR_RETURN(bool done, event->query());
    if (done) return true;
    KOLO_RETURN_IF_ERROR(nccl_->asyncError());
    return false;
  };
  entry.finish = [event, finish = std::move(finish)](const Status& s) mutable {
    finish(s);
    event.reset();  // back to the idle list
  };
  entry.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(timeoutSeconds_));
  entry.onTimeout = [this] {
    nccl_->abort();
    return fmt::format("the NCCL communicator of rank {} (gpu:{}) was aborted", rank(), device_);
  };
  completions_.add(std::move(entry));
  return Status::ok();
}

size_t NcclBackend::poll() {
  return completions_.poll();
}

void NcclBackend::drain(Deadline deadline) {
  while (completions_.poll() > 0 && !deadline.expired()) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  completions_.failAll(makeStatus(
      Code::kTimeout, "rank {} (gpu:{}): device work still running at shutdown", rank(), device_));
}

}  // namespace kolo::gpu
