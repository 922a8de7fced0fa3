#include "kolo/collectives/gpu/nccl_communicator.h"

#include <algorithm>
#include <cstring>

#include "kolo/collectives/gpu/device_runtime.h"

#ifdef KOLO_HAVE_NCCL
#include <nccl.h>
#endif

namespace kolo::gpu {

#ifdef KOLO_HAVE_NCCL
namespace {

static_assert(sizeof(ncclUniqueId) == NcclCommunicator::kUniqueIdBytes);

ncclDataType_t ncclType(DataType t) {
  switch (t) {
    case DataType::kFloat16:
      return ncclFloat16;
    case DataType::kBFloat16:
      return ncclBfloat16;
    case DataType::kFloat32:
      return ncclFloat32;
    case DataType::kFloat64:
      return ncclFloat64;
    case DataType::kInt8:
      return ncclInt8;
    case DataType::kUInt8:
      return ncclUint8;
    case DataType::kInt32:
      return ncclInt32;
    case DataType::kInt64:
      return ncclInt64;
    case DataType::kInt16:
      break;  // NCCL has no 16-bit integer type; allreduce refuses it
  }
  return ncclUint8;
}

ncclRedOp_t ncclOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kAverage:
      return ncclAvg;
    case ReduceOp::kMin:
      return ncclMin;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kProduct:
      return ncclProd;
    case ReduceOp::kAdasum:
      break;  // CPU only: the runtime rejects adasum for device tensors before this
  }
  return ncclSum;
}

Code ncclCode(ncclResult_t r) {
  switch (r) {
    case ncclInvalidArgument:
    case ncclInvalidUsage:
      return Code::kInvalidArgument;
    case ncclRemoteError:
      return Code::kRemoteError;
    case ncclSystemError:
      return Code::kIoError;
    default:
      return Code::kUnavailable;
  }
}

Status ncclFailure(ncclResult_t r, int rank, int32_t device, std::string_view what,
                   ncclComm_t comm) {
  const char* last = ncclGetLastError(comm);
  return makeStatus(ncclCode(r), "NCCL on rank {} (gpu:{}): {}: {}{}{}", rank, device, what,
                    ncclGetErrorString(r), last && *last ? ": " : "", last ? last : "");
}

#define KOLO_NCCL_CHECK(call, what)                                                          \
  do {                                                                                       \
    if (ncclResult_t kolo_nccl_r = (call); kolo_nccl_r != ncclSuccess) {                     \
      return ncclFailure(kolo_nccl_r, rank_, device_, what, static_cast<ncclComm_t>(comm_)); \
    }                                                                                        \
  } while (0)

// A group that failed half-way must still be closed, or NCCL stays in group mode.
#define KOLO_NCCL_GROUP_CHECK(call, what)                                                    \
  do {                                                                                       \
    if (ncclResult_t kolo_nccl_r = (call); kolo_nccl_r != ncclSuccess) {                     \
      ncclGroupEnd();                                                                        \
      return ncclFailure(kolo_nccl_r, rank_, device_, what, static_cast<ncclComm_t>(comm_)); \
    }                                                                                        \
  } while (0)

}  // namespace

Expected<std::unique_ptr<NcclCommunicator>> NcclCommunicator::create(int rank, int size,
                                                                     int32_t device,
                                                                     const ShareId& shareId) {
  KOLO_RETURN_IF_ERROR(useDevice(device));
  ncclUniqueId id{};
  if (rank == 0) {
    if (ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess) {
      return ncclFailure(r, rank, device, "ncclGetUniqueId", nullptr);
    }
  }
  std::byte bytes[kUniqueIdBytes];
  std::memcpy(bytes, &id, sizeof id);
  KOLO_RETURN_IF_ERROR(shareId(std::span<std::byte>(bytes, kUniqueIdBytes))
                           .withContext(fmt::format("rank {}: sharing the NCCL unique id", rank)));
  std::memcpy(&id, bytes, sizeof id);
  ncclComm_t comm = nullptr;
  if (ncclResult_t r = ncclCommInitRank(&comm, size, id, rank); r != ncclSuccess) {
    return ncclFailure(r, rank, device, fmt::format("ncclCommInitRank ({} ranks)", size), nullptr);
  }
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(rank, size, device, comm));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ == nullptr) return;
  (void)useDevice(device_);
  if (aborted_) return;  // ncclCommAbort already freed it
  // The owner drained (or failed) every op before; destroying needs no peer.
  ncclCommDestroy(static_cast<ncclComm_t>(comm_));
}

Status NcclCommunicator::usable(const char* what) const {
  if (aborted_) {
    return makeStatus(Code::kAborted,
                      "NCCL on rank {} (gpu:{}): {}: the communicator was aborted after an "
                      "earlier failure or timeout",
                      rank_, device_, what);
  }
  return useDevice(device_);
}

Status NcclCommunicator::allreduce(const void* send, void* recv, size_t count, DataType type,
                                   ReduceOp op, void* stream) {
  KOLO_RETURN_IF_ERROR(usable("allreduce"));
  if (type == DataType::kInt16) {
    return makeStatus(Code::kInvalidArgument,
                      "NCCL allreduce: NCCL has no int16 type; reduce int16 in host memory");
  }
  KOLO_NCCL_CHECK(ncclAllReduce(send, recv, count, ncclType(type), ncclOp(op),
                                static_cast<ncclComm_t>(comm_), static_cast<cudaStream_t>(stream)),
                  "ncclAllReduce");
  return Status::ok();
}

Status NcclCommunicator::broadcast(void* buffer, size_t bytes, int root, void* stream) {
  KOLO_RETURN_IF_ERROR(usable("broadcast"));
  KOLO_NCCL_CHECK(ncclBroadcast(buffer, buffer, bytes, ncclUint8, root,
                                static_cast<ncclComm_t>(comm_), static_cast<cudaStream_t>(stream)),
                  "ncclBroadcast");
  return Status::ok();
}

Status NcclCommunicator::allgatherv(const void* send, void* recv, std::span<const size_t> bytes,
                                    void* stream) {
  KOLO_RETURN_IF_ERROR(usable("allgather"));
  auto comm = static_cast<ncclComm_t>(comm_);
  auto s = static_cast<cudaStream_t>(stream);
  const bool even =
      std::all_of(bytes.begin(), bytes.end(), [&](size_t b) { return b == bytes[0]; });
  if (even) {
    KOLO_NCCL_CHECK(ncclAllGather(send, recv, bytes.empty() ? 0 : bytes[0], ncclUint8, comm, s),
                    "ncclAllGather");
    return Status::ok();
  }
  KOLO_NCCL_CHECK(ncclGroupStart(), "ncclGroupStart");
  size_t offset = 0;
  for (size_t r = 0; r < bytes.size(); ++r) {
    void* out = static_cast<std::byte*>(recv) + offset;
    const void* in = static_cast<int>(r) == rank_ ? send : out;
    KOLO_NCCL_GROUP_CHECK(ncclBroadcast(in, out, bytes[r], ncclUint8, static_cast<int>(r), comm, s),
                          "ncclBroadcast (allgatherv)");
    offset += bytes[r];
  }
  KOLO_NCCL_CHECK(ncclGroupEnd(), "ncclGroupEnd (allgatherv)");
  return Status::ok();
}

Status NcclCommunicator::reduceScatter(const void* send, void* recv, std::span<const size_t> counts,
                                       DataType type, ReduceOp op, void* stream) {
  KOLO_RETURN_IF_ERROR(usable("reducescatter"));
  if (type == DataType::kInt16) {
    return makeStatus(Code::kInvalidArgument,
                      "NCCL reducescatter: NCCL has no int16 type; reduce int16 in host memory");
  }
  auto comm = static_cast<ncclComm_t>(comm_);
  auto s = static_cast<cudaStream_t>(stream);
  const bool even =
      std::all_of(counts.begin(), counts.end(), [&](size_t c) { return c == counts[0]; });
  if (even) {
    KOLO_NCCL_CHECK(ncclReduceScatter(send, recv, counts.empty() ? 0 : counts[0], ncclType(type),
                                      ncclOp(op), comm, s),
                    "ncclReduceScatter");
    return Status::ok();
  }
  const size_t element = dataTypeSize(type);
  KOLO_NCCL_CHECK(ncclGroupStart(), "ncclGroupStart");
  size_t offset = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    const void* in = static_cast<const std::byte*>(send) + offset * element;
    KOLO_NCCL_GROUP_CHECK(
        ncclReduce(in, recv, counts[r], ncclType(type), ncclOp(op), static_cast<int>(r), comm, s),
        "ncclReduce (uneven reducescatter)");
    offset += counts[r];
  }
  KOLO_NCCL_CHECK(ncclGroupEnd(), "ncclGroupEnd (reducescatter)");
  return Status::ok();
}

Status NcclCommunicator::alltoallv(const void* send, std::span<const size_t> sendBytes, void* recv,
                                   std::span<const size_t> recvBytes, void* stream) {
  KOLO_RETURN_IF_ERROR(usable("alltoall"));
  auto comm = static_cast<ncclComm_t>(comm_);
  auto s = static_cast<cudaStream_t>(stream);
  KOLO_NCCL_CHECK(ncclGroupStart(), "ncclGroupStart");
  size_t sendOffset = 0, recvOffset = 0;
  for (size_t r = 0; r < sendBytes.size(); ++r) {
    const int peer = static_cast<int>(r);
    if (sendBytes[r] > 0) {
      KOLO_NCCL_GROUP_CHECK(ncclSend(static_cast<const std::byte*>(send) + sendOffset, sendBytes[r],
                                     ncclUint8, peer, comm, s),
                            "ncclSend (alltoall)");
    }
    if (recvBytes[r] > 0) {
      KOLO_NCCL_GROUP_CHECK(ncclRecv(static_cast<std::byte*>(recv) + recvOffset, recvBytes[r],
                                     ncclUint8, peer, comm, s),
                            "ncclRecv (alltoall)");
    }
    sendOffset += sendBytes[r];
    recvOffset += recvBytes[r];
  }
  KOLO_NCCL_CHECK(ncclGroupEnd(), "ncclGroupEnd (alltoall)");
  return Status::ok();
}

Status NcclCommunicator::asyncError() {
  if (aborted_) return usable("asynchronous error check");
  ncclResult_t async = ncclSuccess;
  KOLO_NCCL_CHECK(ncclCommGetAsyncError(static_cast<ncclComm_t>(comm_), &async),
                  "ncclCommGetAsyncError");
  if (async != ncclSuccess && async != ncclInProgress) {
    return ncclFailure(async, rank_, device_, "asynchronous error", static_cast<ncclComm_t>(comm_));
  }
  return Status::ok();
}

void NcclCommunicator::abort() {
  if (aborted_ || comm_ == nullptr) return;
  aborted_ = true;
  (void)useDevice(device_);
  ncclCommAbort(static_cast<ncclComm_t>(comm_));
}

#else  // !KOLO_HAVE_NCCL

namespace {
Status notBuilt(int rank, int32_t device) {
  return makeStatus(Code::kUnavailable,
                    "rank {} (gpu:{}): Kolo was built without NCCL (KOLO_WITH_NCCL=OFF); set "
                    "KOLO_GPU_OPERATIONS=host to reduce CUDA tensors through host memory",
                    rank, device);
}
}  // namespace

Expected<std::unique_ptr<NcclCommunicator>> NcclCommunicator::create(int rank, int, int32_t device,
                                                                     const ShareId&) {
  return notBuilt(rank, device);
}
NcclCommunicator::~NcclCommunicator() = default;
Status NcclCommunicator::usable(const char*) const {
  return notBuilt(rank_, device_);
}
Status NcclCommunicator::allreduce(const void*, void*, size_t, DataType, ReduceOp, void*) {
  return usable("");
}
Status NcclCommunicator::broadcast(void*, size_t, int, void*) {
  return usable("");
}
Status NcclCommunicator::allgatherv(const void*, void*, std::span<const size_t>, void*) {
  return usable("");
}
Status NcclCommunicator::reduceScatter(const void*, void*, std::span<const size_t>, DataType,
                                       ReduceOp, void*) {
  return usable("");
}
Status NcclCommunicator::alltoallv(const void*, std::span<const size_t>, void*,
                                   std::span<const size_t>, void*) {
  return usable("");
}
Status NcclCommunicator::asyncError() {
  return usable("");
}
void NcclCommunicator::abort() {
  aborted_ = true;
}

#endif

}  // namespace kolo::gpu
