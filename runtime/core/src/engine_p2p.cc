// Engine::send and Engine::recv: argument checks, then a PeerTransfer for the set's
// PeerExchange (peer_exchange.h). Nothing here is negotiated.
#include <fmt/format.h>

#include <limits>
#include <string_view>

#include "kolo/core/engine.h"
#include "peer_transfer.h"
#include "process_set_runtime.h"

namespace kolo::core {

Expected<std::shared_ptr<ProcessSetRuntime>> Engine::peerSet(bool isSend, const Tensor& tensor,
                                                             int32_t peer, int32_t tag,
                                                             int32_t processSetId) const {
  // Formatted only for an error: a transfer's submit is on the small-message path.
  const auto what = [&] {
    return isSend ? fmt::format("send to rank {} tag {}", peer, tag)
                  : fmt::format("recv from rank {} tag {}", peer, tag);
  };
  {
    std::lock_guard lock(setsMutex_);
    if (shutDown_) return makeStatus(Code::kInvalidUsage, "{}: the session has shut down", what());
    if (memberless_.count(processSetId) != 0) {
      return makeStatus(Code::kInvalidArgument, "{}: rank {} is not a member of process set {}",
                        what(), rank(), processSetId);
    }
  }
  auto set = findSet(processSetId);
  if (!set) {
    return makeStatus(Code::kInvalidArgument, "{}: process set {} does not exist", what(),
                      processSetId);
  }
  // MPI folds Kolo's 64-bit tags into MPI_TAG_UB (mpiTagFor), which would merge the
  // point-to-point kinds and users' tags; its own MPI_Send/MPI_Recv serve MPI jobs.
  if (std::string_view(set->comm().transport().name()) == "mpi") {
    return makeStatus(Code::kUnavailable,
                      "{}: point-to-point is not supported over the mpi transport "
                      "(KOLO_CPU_OPERATIONS=mpi); run with KOLO_CPU_OPERATIONS=kolo",
                      what());
  }
  const int32_t size = static_cast<int32_t>(set->members().size());
  const int32_t self = set->comm().rank();
  if (peer < 0 || peer >= size) {
    return makeStatus(Code::kInvalidArgument, "{}: rank {} is outside process set {} (ranks 0..{})",
                      what(), peer, processSetId, size - 1);
  }
  if (peer == self) {
    return makeStatus(Code::kInvalidArgument, "{}: rank {} cannot {} itself", what(), self,
                      isSend ? "send to" : "receive from");
  }
  if (tag < 0 || tag > kMaxPeerTag) {
    return makeStatus(Code::kInvalidArgument, "{}: tags must be in 0..{}", what(), kMaxPeerTag);
  }
  if (static_cast<uint8_t>(tensor.dtype) > static_cast<uint8_t>(DataType::kInt16)) {
    return makeStatus(Code::kInvalidArgument, "{}: unknown dtype code {}", what(),
                      static_cast<int>(tensor.dtype));
  }
  if (tensor.device != kCpuDevice) {
    return makeStatus(Code::kInvalidArgument,
                      "{}: send/recv carry CPU tensors only (the tensor is on CUDA device {})",
                      what(), tensor.device);
  }
  return set;
}

Expected<Handle> Engine::submitPeer(bool isSend, const Tensor& tensor, int32_t peer, int32_t tag,
                                    const OpOptions& options) {
  KOLO_ASSIGN_OR_RETURN(auto set, peerSet(isSend, tensor, peer, tag, options.processSet));
  int64_t count = 1;
  for (int64_t d : tensor.shape) {
    if (d < 0 || (d > 0 && count > std::numeric_limits<int64_t>::max() / d)) {
      return makeStatus(Code::kInvalidArgument, "{} rank {} tag {}: invalid shape dimension {}",
                        isSend ? "send to" : "recv from", peer, tag, d);
    }
    count *= d;
  }
  void* data = isSend ? const_cast<void*>(tensor.data)
                      : (tensor.output ? tensor.output : const_cast<void*>(tensor.data));
  auto state = std::make_shared<OpState>();
  auto transfer =
      std::make_unique<PeerTransfer>(isSend, peer, set->comm().rank(), tag, tensor.dtype, count,
                                     data, state, set->comm().opDeadline(),
                                     set->comm().peer(peer).eagerBytes());
  const std::string name = transfer->describe();
  if (count > 0 && data == nullptr) {
    return makeStatus(Code::kInvalidArgument, "{}: the tensor has {} elements but no data", name,
                      count);
  }
  KOLO_RETURN_IF_ERROR(set->submitPeer(std::move(transfer)));
  return Handle(std::move(state), name);
}

Expected<Handle> Engine::send(const Tensor& tensor, int32_t peer, int32_t tag,
                              const OpOptions& options) {
  return submitPeer(true, tensor, peer, tag, options);
}

Expected<Handle> Engine::recv(const Tensor& tensor, int32_t peer, int32_t tag,
                              const OpOptions& options) {
  return submitPeer(false, tensor, peer, tag, options);
}

}  // namespace kolo::core
