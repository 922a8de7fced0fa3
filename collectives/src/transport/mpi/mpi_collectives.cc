#include "transport/mpi/mpi_collectives.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "transport/mpi/mpi_chunking.h"
#include "transport/mpi/mpi_env.h"

namespace kolo {
namespace {

std::optional<MPI_Datatype> mpiType(DataType type) {
  switch (type) {
    case DataType::kFloat32: return MPI_FLOAT;
    case DataType::kFloat64: return MPI_DOUBLE;
    case DataType::kInt8: return MPI_INT8_T;
    case DataType::kUInt8: return MPI_UINT8_T;
    case DataType::kInt32: return MPI_INT32_T;
    case DataType::kInt64: return MPI_INT64_T;
    case DataType::kInt16: return MPI_INT16_T;
    case DataType::kFloat16:
    case DataType::kBFloat16: return std::nullopt;
  }
  return std::nullopt;
}

std::optional<MPI_Op> mpiOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return MPI_SUM;
    case ReduceOp::kMin: return MPI_MIN;
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kProduct: return MPI_PROD;
    case ReduceOp::kAverage:
    case ReduceOp::kAdasum: return std::nullopt;
  }
  return std::nullopt;
}

// Starts one nonblocking MPI collective (under the call lock) and waits for it.
template <typename Start>
Status runCollective(const char* what, Deadline deadline, Start start) {
  MPI_Request request = MPI_REQUEST_NULL;
  int rc;
  {
    auto lock = mpiCallLock();
    rc = start(&request);
  }
  KOLO_RETURN_IF_ERROR(mpiStatus(rc, what));
  return waitMpi(&request, deadline, what);
}

// int counts and displacements for the vector collectives, or nullopt if any exceeds INT_MAX.
struct IntLayout {
  std::vector<int> counts;
  std::vector<int> displs;
};
std::optional<IntLayout> intLayout(std::span<const size_t> counts, size_t maxCount) {
  if (!fitsMpiCounts(counts.data(), counts.size(), maxCount)) return std::nullopt;
  IntLayout layout;
  int offset = 0;
  for (size_t c : counts) {
    layout.counts.push_back(static_cast<int>(c));
    layout.displs.push_back(offset);
    offset += static_cast<int>(c);
  }
  return layout;
}

bool overlaps(const void* a, size_t aBytes, const void* b, size_t bBytes) {
  auto pa = reinterpret_cast<uintptr_t>(a);
  auto pb = reinterpret_cast<uintptr_t>(b);
  return aBytes != 0 && bBytes != 0 && pa < pb + bBytes && pb < pa + aBytes;
}

}  // namespace

std::optional<Status> MpiCollectives::allreduce(const void* send, void* recv, size_t count,
                                                DataType type, ReduceOp op, Deadline deadline) {
  auto mpiT = mpiType(type);
  auto mpiO = mpiOp(op);
  if (!mpiT || !mpiO) return std::nullopt;
  const size_t width = dataTypeSize(type);
  auto* out = static_cast<std::byte*>(recv);
  const auto* in = static_cast<const std::byte*>(send);
  const bool inPlace = send == recv;
  if (!inPlace && overlaps(send, count * width, recv, count * width)) return std::nullopt;
  for (const CountChunk& chunk : splitCount(count, maxCount_)) {
    const void* chunkIn = inPlace ? MPI_IN_PLACE : in + chunk.offset * width;
    KOLO_RETURN_IF_ERROR(runCollective(
        "MPI_Iallreduce", deadline, [&](MPI_Request* request) {
          return MPI_Iallreduce(chunkIn, out + chunk.offset * width, static_cast<int>(chunk.count),
                                *mpiT, *mpiO, comm_, request);
        }));
  }
  return Status::ok();
}

std::optional<Status> MpiCollectives::reduceScatter(const void* send, void* recv,
                                                    std::span<const size_t> recvCounts,
                                                    DataType type, ReduceOp op,
                                                    Deadline deadline) {
  auto mpiT = mpiType(type);
  auto mpiO = mpiOp(op);
  if (!mpiT || !mpiO) return std::nullopt;
  auto layout = intLayout(recvCounts, maxCount_);
  if (!layout) return std::nullopt;
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  const size_t width = dataTypeSize(type);
  size_t total = 0;
  for (size_t c : recvCounts) total += c;
  const bool inPlace = send == recv;
  if (!inPlace && overlaps(send, total * width, recv, recvCounts[rank] * width)) {
    return std::nullopt;
  }
  return runCollective("MPI_Ireduce_scatter", deadline, [&](MPI_Request* request) {
    return MPI_Ireduce_scatter(inPlace ? MPI_IN_PLACE : send, recv, layout->counts.data(), *mpiT,
                               *mpiO, comm_, request);
  });
}

std::optional<Status> MpiCollectives::allgatherv(const void* send, void* recv,
                                                 std::span<const size_t> bytesPerRank,
                                                 Deadline deadline) {
  auto layout = intLayout(bytesPerRank, maxCount_);
  if (!layout) return std::nullopt;
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  auto* out = static_cast<std::byte*>(recv);
  const size_t total = static_cast<size_t>(layout->displs.back()) + bytesPerRank.back();
  const void* in = send;
  if (send == out + layout->displs[rank]) {
    in = MPI_IN_PLACE;
  } else if (overlaps(send, bytesPerRank[rank], recv, total)) {
    return std::nullopt;
  }
  return runCollective("MPI_Iallgatherv", deadline, [&](MPI_Request* request) {
    return MPI_Iallgatherv(in, layout->counts[rank], MPI_BYTE, recv, layout->counts.data(),
                           layout->displs.data(), MPI_BYTE, comm_, request);
  });
}

std::optional<Status> MpiCollectives::broadcast(void* buffer, size_t bytes, int root,
                                                 Deadline deadline) {
  auto* data = static_cast<std::byte*>(buffer);
  for (const CountChunk& chunk : splitCount(bytes, maxCount_)) {
    KOLO_RETURN_IF_ERROR(runCollective("MPI_Ibcast", deadline, [&](MPI_Request* request) {
      return MPI_Ibcast(data + chunk.offset, static_cast<int>(chunk.count), MPI_BYTE, root,
                        comm_, request);
    }));
  }
  return Status::ok();
}

std::optional<Status> MpiCollectives::alltoallv(const void* send,
                                                std::span<const size_t> sendBytes, void* recv,
                                                std::span<const size_t> recvBytes,
                                                Deadline deadline) {
  auto sendLayout = intLayout(sendBytes, maxCount_);
  auto recvLayout = intLayout(recvBytes, maxCount_);
  if (!sendLayout || !recvLayout) return std::nullopt;
  size_t sendTotal = 0, recvTotal = 0;
  for (size_t b : sendBytes) sendTotal += b;
  for (size_t b : recvBytes) recvTotal += b;
  // MPI forbids overlapping buffers and its in-place form needs equal send and receive
  // layouts, so an in-place call sends from a copy (as Kolo's own alltoallv does).
  std::vector<std::byte> saved;
  if (overlaps(send, sendTotal, recv, recvTotal)) {
    const auto* in = static_cast<const std::byte*>(send);
    saved.assign(in, in + sendTotal);
    send = saved.data();
  }
  return runCollective("MPI_Ialltoallv", deadline, [&](MPI_Request* request) {
    return MPI_Ialltoallv(send, sendLayout->counts.data(), sendLayout->displs.data(), MPI_BYTE,
                          recv, recvLayout->counts.data(), recvLayout->displs.data(), MPI_BYTE,
                          comm_, request);
  });
}

std::optional<Status> MpiCollectives::barrier(Deadline deadline) {
  return runCollective("MPI_Ibarrier", deadline,
                       [&](MPI_Request* request) { return MPI_Ibarrier(comm_, request); });
}

}  // namespace kolo
