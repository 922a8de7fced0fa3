// Algorithm registry, KOLO_ALLREDUCE_ALGO and delegation to a shared-memory arena.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/shm_arena.h"
#include "support/collective_reference.h"
#include "support/scoped_env.h"
#include "support/threaded_world.h"
#include "transport/loopback/loopback_transport.h"

namespace kolo::coll {
namespace {

using test::ScopedEnv;

// Stands in for the shm arena: records what it was asked and fills recv with a marker that no
// channel algorithm would produce.
class RecordingArena final : public ShmArena {
 public:
  explicit RecordingArena(int rank, int size) : rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status allreduce(const void*, void* recv, size_t count, DataType type, ReduceOp,
                   Deadline) override {
    ++allreduces;
    std::memset(recv, 0x7E, count * dataTypeSize(type));
    return Status::ok();
  }
  Status broadcast(void*, size_t, int root, Deadline) override {
    ++broadcasts;
    lastRoot = root;
    return Status::ok();
  }
  Status barrier(Deadline) override {
    ++barriers;
    return Status::ok();
  }
  int allreduces = 0;
  int broadcasts = 0;
  int barriers = 0;
  int lastRoot = -1;

 private:
  int rank_;
  int size_;
};

TEST(AlgorithmRegistry, EveryEntryIsDescribedAndFindable) {
  auto registry = algorithmRegistry();
  ASSERT_FALSE(registry.empty());
  for (const AlgorithmInfo& info : registry) {
    EXPECT_FALSE(info.description.empty()) << info.collective << "/" << info.name;
    EXPECT_EQ(findAlgorithm(info.collective, info.name), &info);
    EXPECT_GE(info.latencySteps(8), info.latencySteps(2)) << info.collective << "/" << info.name;
    EXPECT_EQ(info.latencySteps(1), 0.0) << info.collective << "/" << info.name;
  }
  EXPECT_EQ(findAlgorithm("allreduce", "nonexistent"), nullptr);
  const AlgorithmInfo* ring = findAlgorithm("allreduce", "ring");
  const AlgorithmInfo* rd = findAlgorithm("allreduce", "rd");
  ASSERT_NE(ring, nullptr);
  ASSERT_NE(rd, nullptr);
  EXPECT_EQ(ring->id, static_cast<int>(AllreduceAlgorithm::kRing));
  // The cost models encode why each exists: rd has fewer steps, ring moves fewer bytes.
  EXPECT_LT(rd->latencySteps(8), ring->latencySteps(8));
  EXPECT_LT(ring->bandwidthFactor(8), rd->bandwidthFactor(8));
  EXPECT_DOUBLE_EQ(ring->bandwidthFactor(4), 1.5);
}

TEST(AlgorithmRegistry, NamesRoundTrip) {
  for (auto a : {AllreduceAlgorithm::kAuto, AllreduceAlgorithm::kRing,
                 AllreduceAlgorithm::kRecursiveDoubling, AllreduceAlgorithm::kShm}) {
    EXPECT_EQ(parseAllreduceAlgorithm(allreduceAlgorithmName(a)), a);
  }
  EXPECT_EQ(parseAllreduceAlgorithm("RING"), AllreduceAlgorithm::kRing);
  EXPECT_EQ(parseAllreduceAlgorithm("recursive_doubling"), AllreduceAlgorithm::kRecursiveDoubling);
  EXPECT_EQ(parseAllreduceAlgorithm("tree"), std::nullopt);
}

TEST(SelectAllreduce, AutoPicksBySizeWithoutArena) {
  auto world = makeLoopbackWorld(4);
  Communicator comm(world[0], nullptr, {});
  ::unsetenv("KOLO_ALLREDUCE_ALGO");
  EXPECT_EQ(selectAllreduce(comm, 8), AllreduceAlgorithm::kRecursiveDoubling);
  EXPECT_EQ(selectAllreduce(comm, 64 * 1024 - 1), AllreduceAlgorithm::kRecursiveDoubling);
  EXPECT_EQ(selectAllreduce(comm, 64 * 1024), AllreduceAlgorithm::kRing);
  EXPECT_EQ(selectAllreduce(comm, 256 << 20), AllreduceAlgorithm::kRing);
}

TEST(SelectAllreduce, EnvironmentOverridesAndFallsBack) {
  auto world = makeLoopbackWorld(2);
  Communicator plain(world[0], nullptr, {});
  Communicator withArena(world[1], std::make_shared<RecordingArena>(1, 2), {});
  {
    ScopedEnv env("KOLO_ALLREDUCE_ALGO", "ring");
    EXPECT_EQ(selectAllreduce(plain, 8), AllreduceAlgorithm::kRing);
    EXPECT_EQ(selectAllreduce(withArena, 8), AllreduceAlgorithm::kRing);
  }
  {
    ScopedEnv env("KOLO_ALLREDUCE_ALGO", "rd");
    EXPECT_EQ(selectAllreduce(plain, 1 << 30), AllreduceAlgorithm::kRecursiveDoubling);
  }
  {
    ScopedEnv env("KOLO_ALLREDUCE_ALGO", "shm");
    EXPECT_EQ(selectAllreduce(withArena, 1 << 30), AllreduceAlgorithm::kShm);
    // Cannot run without an arena: auto decides.
    EXPECT_EQ(selectAllreduce(plain, 8), AllreduceAlgorithm::kRecursiveDoubling);
    EXPECT_EQ(selectAllreduce(plain, 1 << 20), AllreduceAlgorithm::kRing);
  }
  {
    ScopedEnv env("KOLO_ALLREDUCE_ALGO", "bogus");
    EXPECT_EQ(selectAllreduce(plain, 1 << 20), AllreduceAlgorithm::kRing);
  }
  EXPECT_EQ(selectAllreduce(withArena, 8), AllreduceAlgorithm::kShm);
}

TEST(SelectAllreduce, ForcedAlgorithmStillComputesTheRightResult) {
  for (const char* algo : {"ring", "rd", "shm", "auto"}) {
    ScopedEnv env("KOLO_ALLREDUCE_ALGO", algo);
    for (size_t count : {size_t{5}, size_t{100000}}) {
      std::vector<std::byte> expected(count * 4);
      test::referenceAllreduce(DataType::kFloat32, ReduceOp::kSum, 3, count, 8, expected.data());
      auto results = test::runThreadedWorld(3, [&](Communicator& comm) -> Status {
        auto buf = test::makeInput(DataType::kFloat32, ReduceOp::kSum, comm.rank(), 3, count, 8);
        KOLO_RETURN_IF_ERROR(
            allreduce(comm, buf.data(), buf.data(), count, DataType::kFloat32, ReduceOp::kSum));
        std::string diff =
            test::compareExact(DataType::kFloat32, expected.data(), buf.data(), count);
        return diff.empty() ? Status::ok() : Status(Code::kInternal, diff);
      });
      EXPECT_EQ(test::describeFailures(results), "") << algo << " count=" << count;
    }
  }
}

TEST(ArenaDelegation, AllreduceBroadcastAndBarrierUseTheArena) {
  ::unsetenv("KOLO_ALLREDUCE_ALGO");
  auto world = makeLoopbackWorld(2);
  auto arena = std::make_shared<RecordingArena>(0, 2);
  Communicator comm(world[0], arena, {});
  std::vector<uint8_t> send(16, 1), recv(16, 0);
  ASSERT_TRUE(
      allreduce(comm, send.data(), recv.data(), 16, DataType::kUInt8, ReduceOp::kSum).isOk());
  EXPECT_EQ(arena->allreduces, 1);
  EXPECT_EQ(recv, std::vector<uint8_t>(16, 0x7E));
  ASSERT_TRUE(allreduce(comm, send.data(), recv.data(), 16, DataType::kUInt8, ReduceOp::kSum,
                        AllreduceAlgorithm::kShm)
                  .isOk());
  EXPECT_EQ(arena->allreduces, 2);
  ASSERT_TRUE(broadcast(comm, recv.data(), recv.size(), 1).isOk());
  EXPECT_EQ(arena->broadcasts, 1);
  EXPECT_EQ(arena->lastRoot, 1);
  ASSERT_TRUE(barrier(comm).isOk());
  EXPECT_EQ(arena->barriers, 1);
}

TEST(ArenaDelegation, ExplicitChannelAlgorithmBypassesTheArena) {
  auto arenas =
      std::vector{std::make_shared<RecordingArena>(0, 2), std::make_shared<RecordingArena>(1, 2)};
  auto world = makeLoopbackWorld(2);
  std::vector<Status> results(2);
  std::vector<std::vector<int32_t>> out(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      Communicator comm(world[r], arenas[r], CommunicatorOptions{10.0});
      std::vector<int32_t> v(100, r + 1);
      results[r] = allreduce(comm, v.data(), v.data(), v.size(), DataType::kInt32, ReduceOp::kSum,
                             AllreduceAlgorithm::kRing);
      out[r] = v;
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(results[r].isOk()) << results[r].toString();
    EXPECT_EQ(out[r], std::vector<int32_t>(100, 3));
    EXPECT_EQ(arenas[r]->allreduces, 0);
  }
}

}  // namespace
}  // namespace kolo::coll
