// DeviceExecutor: choosing NCCL or host staging, and the NCCL path (see device_executor.h).
#include "device_executor.h"

#include <algorithm>
#include <cstring>

#include "kolo/base/logging.h"
#include "kolo/base/settings.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/gpu.h"
#include "kolo/collectives/gpu/nccl_backend.h"
#include "op_executor.h"

namespace kolo::core {
namespace {

FusionBufferPool::Allocator deviceAllocator() {
  return {
      [](int32_t device, size_t bytes) -> void* {
        return device == DeviceExecutor::kPinnedHostDevice ? gpu::pinnedAlloc(bytes)
                                                           : gpu::deviceAlloc(device, bytes);
      },
      [](int32_t device, void* data) {
        if (device == DeviceExecutor::kPinnedHostDevice) {
          gpu::pinnedFree(data);
        } else {
          gpu::deviceFree(device, data);
        }
      },
  };
}

// What each member tells the others on the first CUDA batch.
struct DeviceReport {
  uint8_t usable = 0;
  char pciBusId[63] = {};
};
static_assert(sizeof(DeviceReport) == 64);

void failBatch(const FusedBatch& b, const BatchOps& ops, const Status& status) {
  for (const FusedEntry& e : b.entries) {
    if (const PendingOpPtr& op = ops[e.response][e.tensor]) op->state->complete(status);
  }
}

std::string batchName(const FusedBatch& b, std::span<const Response> responses) {
  const FusedEntry& first = b.entries.front();
  std::string name =
      fmt::format("{} '{}'", opTypeName(b.op), responses[first.response].tensorNames[first.tensor]);
  if (b.entries.size() > 1) name += fmt::format(" and {} more", b.entries.size() - 1);
  return name;
}

void addStream(std::vector<void*>& streams, void* s) {
  if (std::find(streams.begin(), streams.end(), s) == streams.end()) streams.push_back(s);
}

}  // namespace

GpuOperations gpuOperationsFromEnv() {
  const std::string value = settingChoice("KOLO_GPU_OPERATIONS");
  if (value == "nccl") return GpuOperations::kNccl;
  if (value == "host") return GpuOperations::kHost;
  return GpuOperations::kAuto;
}

DeviceExecutor::DeviceExecutor(Communicator& comm, std::vector<int32_t> members)
    : comm_(comm),
      members_(std::move(members)),
      requested_(gpuOperationsFromEnv()),
      pool_(deviceAllocator()) {}

DeviceExecutor::~DeviceExecutor() {
  nccl_.reset();  // fails what is pending while the pool its buffers return to still exists
}

int DeviceExecutor::localIndex(int32_t globalRank) const {
  auto it = std::find(members_.begin(), members_.end(), globalRank);
  return it == members_.end() ? -1 : static_cast<int>(it - members_.begin());
}

Status DeviceExecutor::resolveMode(int32_t device, Status& opFailure) {
  DeviceReport mine;
  Status local = gpu::useDevice(device);
  if (local.isOk()) {
    auto bus = gpu::pciBusId(device);
    if (bus.hasValue()) {
      std::strncpy(mine.pciBusId, bus.value().c_str(), sizeof mine.pciBusId - 1);
    } else {
      local = bus.status();
    }
  }
  mine.usable = local.isOk() ? 1 : 0;
  const size_t n = members_.size();
  std::vector<DeviceReport> all(n);
  if (n > 1) {
    KOLO_RETURN_IF_ERROR(coll::allgather(comm_, &mine, all.data(), sizeof mine)
                             .withContext("exchanging CUDA device ids"));
  } else {
    all[0] = mine;
  }
  std::vector<int32_t> unusable;
  for (size_t r = 0; r < n; ++r) {
    if (!all[r].usable) unusable.push_back(members_[r]);
  }
  if (!unusable.empty()) {
    opFailure = !local.isOk()
                    ? local.withContext(fmt::format("rank {}", members_[comm_.rank()]))
                    : makeStatus(Code::kUnavailable, "rank(s) {} cannot use their CUDA device",
                                 fmt::join(unusable, ","));
    return Status::ok();
  }
  bool shared = false;
  for (size_t a = 0; a < n && !shared; ++a) {
    for (size_t c = a + 1; c < n; ++c) {
      if (std::strncmp(all[a].pciBusId, all[c].pciBusId, sizeof mine.pciBusId) == 0) {
        shared = true;
        break;
      }
    }
  }
  const bool ncclBuilt = gpu::buildInfo().nccl;
  if (requested_ == GpuOperations::kNccl && !ncclBuilt) {
    opFailure = Status(Code::kUnavailable,
                       "KOLO_GPU_OPERATIONS=nccl, but Kolo was built without NCCL "
                       "(KOLO_WITH_NCCL=OFF)");
    return Status::ok();
  }
  if (requested_ == GpuOperations::kHost) {
    mode_ = Mode::kHost;
  } else if (requested_ == GpuOperations::kNccl) {
    mode_ = Mode::kNccl;
  } else {
    mode_ = ncclBuilt && !shared ? Mode::kNccl : Mode::kHost;
  }
  if (mode_ == Mode::kNccl && shared) {
    KOLO_LOG(kWarning, "gpu",
             "KOLO_GPU_OPERATIONS=nccl while ranks share a GPU: NCCL may refuse or hang; "
             "host staging is the supported path");
  }
  KOLO_LOG(kInfo, "gpu", "rank {}: CUDA tensors of process set with {} ranks go through {} ({})",
           members_[comm_.rank()], n, mode_ == Mode::kNccl ? "NCCL" : "host staging",
           requested_ != GpuOperations::kAuto ? "KOLO_GPU_OPERATIONS"
           : !ncclBuilt                       ? "built without NCCL"
           : shared                           ? "ranks share a GPU"
                                              : "one GPU per rank");
  return Status::ok();
}

Status DeviceExecutor::run(const FusedBatch& b, std::span<const Response> responses,
                           const BatchOps& ops, OpExecutor& host) {
  const std::string name = batchName(b, responses);
  if (mode_ == Mode::kUnresolved) {
    Status opFailure;
    if (Status s = resolveMode(b.device, opFailure); !s.isOk()) {
      const Status failed = s.withContext(name);
      failBatch(b, ops, failed);
      return failed;
    }
    if (!opFailure.isOk()) {
      failBatch(b, ops, opFailure.withContext(name));
      return Status::ok();
    }
  } else if (Status s = gpu::useDevice(b.device); !s.isOk()) {
    failBatch(b, ops, s.withContext(name));
    return Status::ok();
  }
  // NCCL has no 16-bit integer type: int16 reductions run host-staged even in NCCL mode.
  const bool ncclCanReduce =
      b.dtype != DataType::kInt16 ||
      (b.op != OpType::kAllreduce && b.op != OpType::kReducescatter);
  return mode_ == Mode::kNccl && ncclCanReduce ? runNccl(b, responses, ops)
                                               : runStaged(b, responses, ops, host);
}

size_t DeviceExecutor::poll() {
  return nccl_ ? nccl_->poll() : 0;
}

void DeviceExecutor::drain(Deadline deadline) {
  if (nccl_) nccl_->drain(deadline);
}

Status DeviceExecutor::runNccl(const FusedBatch& b, std::span<const Response> responses,
                               const BatchOps& ops) {
  const std::string name = batchName(b, responses);
  if (!nccl_) {
    auto created = gpu::NcclBackend::create(comm_, b.device);
    if (!created.hasValue()) {
      failBatch(b, ops, created.status().withContext(name));
      return created.status();
    }
    nccl_ = std::move(created).value();
  }
  if (nccl_->device() != b.device) {
    failBatch(b, ops,
              makeStatus(Code::kInvalidArgument,
                         "{}: the tensor is on gpu:{} but this rank's NCCL communicator for the "
                         "process set is on gpu:{}; keep one device per rank",
                         name, b.device, nccl_->device()));
    return Status::ok();
  }
  std::vector<void*> streams;
  std::vector<PendingOpPtr> batchOps;
  for (const FusedEntry& e : b.entries) {
    if (const PendingOpPtr& op = ops[e.response][e.tensor]) {
      addStream(streams, op->tensor.stream);
      batchOps.push_back(op);
    }
  }
  std::vector<FusionBuffer> leases;
  std::function<void()> copyOut;
  Status s = nccl_->waitFor(streams);
  if (s.isOk()) {
    switch (b.op) {
      case OpType::kAllreduce:
        s = ncclAllreduce(b, ops, leases);
        break;
      case OpType::kBroadcast:
        s = ncclBroadcast(b, responses, ops, leases);
        break;
      default: {
        const FusedEntry& e = b.entries.front();
        s = ncclRowOp(responses[e.response], ops[e.response][0], leases, copyOut);
      }
    }
  }
  if (s.isOk()) {
    auto held = std::make_shared<std::vector<FusionBuffer>>(std::move(leases));
    s = nccl_->complete(streams, name,
                        [batchOps, held, copyOut = std::move(copyOut)](const Status& done) {
                          if (done.isOk() && copyOut) copyOut();
                          held->clear();
                          for (const PendingOpPtr& op : batchOps) op->state->complete(done);
                        });
  }
  if (!s.isOk()) {
    // The members may have enqueued different work: stop the set rather than risk a hang.
    const Status failed = s.withContext(name);
    failBatch(b, ops, failed);
    return failed;
  }
  return Status::ok();
}

namespace {

// Where each fused tensor's input and output sit relative to the device fusion buffer (a
// joined rank's missing op reads and writes nothing).
std::pair<std::vector<gpu::FusionSlot>, std::vector<gpu::FusionSlot>> fusionSlots(
    const FusedBatch& b, const BatchOps& ops) {
  std::vector<gpu::FusionSlot> inputs, outputs;
  for (const FusedEntry& e : b.entries) {
    const PendingOpPtr& op = ops[e.response][e.tensor];
    inputs.push_back({op ? op->tensor.data : nullptr, e.offset, e.bytes});
    outputs.push_back({op ? op->output() : nullptr, e.offset, e.bytes});
  }
  return {std::move(inputs), std::move(outputs)};
}

}  // namespace

Status DeviceExecutor::ncclAllreduce(const FusedBatch& b, const BatchOps& ops,
                                     std::vector<FusionBuffer>& leases) {
  const size_t typeSize = dataTypeSize(b.dtype);
  if (!b.needsPacking) {
    const FusedEntry& e = b.entries.front();
    const PendingOpPtr& op = ops[e.response][e.tensor];
    const size_t count = e.bytes / typeSize;
    if (!op) {  // joined: contribute zeros, drop the result
      KOLO_ASSIGN_OR_RETURN(FusionBuffer zeros, pool_.acquire(b.device, e.bytes));
      KOLO_RETURN_IF_ERROR(gpu::zeroAsync(zeros.data(), e.bytes, nccl_->stream()));
      KOLO_RETURN_IF_ERROR(
          nccl_->allreduce(b.dtype, b.reduceOp, 1.0, 1.0, zeros.data(), zeros.data(), count));
      leases.push_back(std::move(zeros));
      return Status::ok();
    }
    return nccl_->allreduce(b.dtype, b.reduceOp, b.prescale, b.postscale, op->tensor.data,
                            op->output(), count);
  }
  KOLO_ASSIGN_OR_RETURN(FusionBuffer buffer, pool_.acquire(b.device, b.totalBytes));
  const auto [inputs, outputs] = fusionSlots(b, ops);
  Status s = nccl_->allreduceFused(b.dtype, b.reduceOp, b.prescale, b.postscale, inputs, outputs,
                                   buffer.data(), b.totalBytes);
  leases.push_back(std::move(buffer));
  return s;
}

Status DeviceExecutor::ncclBroadcast(const FusedBatch& b, std::span<const Response> responses,
                                     const BatchOps& ops, std::vector<FusionBuffer>& leases) {
  const int root = localIndex(b.rootRank);
  if (root < 0) {
    return makeStatus(Code::kInternal, "broadcast root {} is not in the process set", b.rootRank);
  }
  if (!b.needsPacking) {
    const FusedEntry& e = b.entries.front();
    const PendingOpPtr& op = ops[e.response][e.tensor];
    if (!op) {
      return makeStatus(Code::kInternal, "rank {} has no op for broadcast '{}'", comm_.rank(),
                        responses[e.response].tensorNames[e.tensor]);
    }
    return nccl_->broadcast(root, op->tensor.data, op->output(), e.bytes);
  }
  KOLO_ASSIGN_OR_RETURN(FusionBuffer buffer, pool_.acquire(b.device, b.totalBytes));
  const auto [inputs, outputs] = fusionSlots(b, ops);
  Status s = nccl_->broadcastFused(root, inputs, outputs, buffer.data(), b.totalBytes);
  leases.push_back(std::move(buffer));
  return s;
}

}  // namespace kolo::core
