// Per-link counters of the TCP transport: exact payload bytes per peer for a ring allreduce,
// and failed transfers moving no bytes.
#include <gtest/gtest.h>

#include <vector>

#include "kolo/collectives/collectives.h"
#include "kolo/collectives/peer_traffic.h"
#include "tcp_world.h"

namespace kolo::test {
namespace {

// A ring allreduce over n ranks with n * k floats moves 2 (n - 1) segments of k floats to the
// right neighbour and takes as many from the left one; nothing goes to any other rank.
TEST(TcpTraffic, RingAllreduceCountsExactBytesPerLink) {
  constexpr int kRanks = 3;
  constexpr size_t kSegment = 1024;  // floats per segment
  MemoryStore store;
  auto world = connectTcpWorld(kRanks, store, uniqueJobId("traffic"));
  std::vector<std::vector<PeerTraffic>> seen(kRanks);
  auto results = runRanks(world, [&](int rank, Communicator& comm) -> Status {
    std::vector<float> data(kRanks * kSegment, static_cast<float>(rank + 1));
    KOLO_RETURN_IF_ERROR(coll::allreduce(comm, data.data(), data.data(), data.size(),
                                         DataType::kFloat32, ReduceOp::kSum, "ring"));
    if (data[0] != 6.0f || data.back() != 6.0f) {
      return makeStatus(Code::kInternal, "rank {}: sum {}", rank, data[0]);
    }
    seen[static_cast<size_t>(rank)] = linkTraffic(comm);
    return Status::ok();
  });
  for (auto& s : results) ASSERT_TRUE(s.isOk()) << s.toString();
  const uint64_t expected = 2 * (kRanks - 1) * kSegment * sizeof(float);
  for (int r = 0; r < kRanks; ++r) {
    const auto& links = seen[static_cast<size_t>(r)];
    ASSERT_EQ(links.size(), static_cast<size_t>(kRanks)) << r;
    const int right = (r + 1) % kRanks, left = (r + kRanks - 1) % kRanks;
    EXPECT_EQ(links[right].bytesSent, expected) << "rank " << r;
    EXPECT_EQ(links[right].bytesReceived, 0u) << "rank " << r;
    EXPECT_EQ(links[left].bytesReceived, expected) << "rank " << r;
    EXPECT_EQ(links[left].bytesSent, 0u) << "rank " << r;
    EXPECT_EQ(links[r].bytesSent + links[r].bytesReceived, 0u) << "no link to itself";
    EXPECT_GT(links[right].sendBusyNanos, 0u) << "rank " << r;
    EXPECT_GT(links[left].recvBusyNanos, 0u) << "rank " << r;
  }
}

TEST(TcpTraffic, AMismatchedReceiveCountsNoBytes) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("traffic-mismatch"));
  std::vector<PeerTraffic> atOne;
  auto results = runRanks(world, [&](int rank, Communicator& comm) -> Status {
    std::vector<std::byte> bytes(rank == 0 ? 100 : 60);
    std::vector<TransferRequestPtr> reqs;
    if (rank == 0) {
      reqs.push_back(comm.peer(1).postSend(5, bytes));
      return comm.waitAll(reqs);
    }
    reqs.push_back(comm.peer(0).postRecv(5, bytes));
    Status s = comm.waitAll(reqs);
    if (s.code() != Code::kMismatch) {
      return makeStatus(Code::kInternal, "expected a size mismatch, got {}", s.toString());
    }
    atOne = comm.transport().traffic();
    return Status::ok();
  });
  for (auto& s : results) ASSERT_TRUE(s.isOk()) << s.toString();
  ASSERT_EQ(atOne.size(), 2u);
  EXPECT_EQ(atOne[0].bytesReceived, 0u);
  EXPECT_EQ(atOne[0].recvs, 0u);
}

}  // namespace
}  // namespace kolo::test
