// The algorithm registry, KOLO_<COLLECTIVE>_ALGO specs, selection under a communicator's policy,
// and delegation to a shared-memory arena.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "kolo/base/settings.h"
#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/shm_arena.h"
#include "support/algorithm_choice.h"
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
  Status reduceScatter(const void*, void* recv, std::span<const size_t> counts, DataType type,
                       ReduceOp, Deadline) override {
    ++reduceScatters;
    std::memset(recv, 0x7E, counts[rank_] * dataTypeSize(type));
    return Status::ok();
  }
  Status allgatherv(const void*, void*, std::span<const size_t>, Deadline) override {
    ++allgathers;
    return Status::ok();
  }
  Status alltoallv(const void*, std::span<const size_t>, void*, std::span<const size_t>,
                   Deadline) override {
    ++alltoalls;
    return Status::ok();
  }
  void watchAbort(std::shared_ptr<const AbortToken>) override {}
  int reduceScatters = 0;
  int allgathers = 0;
  int alltoalls = 0;
  int allreduces = 0;
  int broadcasts = 0;
  int barriers = 0;
  int lastRoot = -1;

 private:
  int rank_;
  int size_;
};

TEST(AlgorithmRegistry, EveryEntryIsDescribedFindableAndRunnable) {
  auto registry = algorithmRegistry();
  ASSERT_FALSE(registry.empty());
  std::set<int> ids;
  for (const AlgorithmEntry& entry : registry) {
    const std::string what = fmt::format("{}/{}", collectiveName(entry.collective), entry.name);
    EXPECT_FALSE(entry.description.empty()) << what;
    EXPECT_EQ(findAlgorithm(entry.collective, entry.name), &entry) << what;
    EXPECT_TRUE(ids.insert(entry.id).second) << what << " reuses id " << entry.id;
    EXPECT_EQ(entry.id / 100, static_cast<int>(entry.collective)) << what;
    ASSERT_NE(entry.run, nullptr) << what;
    ASSERT_NE(entry.preferred, nullptr) << what;
    EXPECT_GE(entry.latencySteps(8), entry.latencySteps(2)) << what;
    EXPECT_EQ(entry.latencySteps(1), 0.0) << what;
  }
  // Every collective has an algorithm that always runs and is always taken last, so the
  // selector always has an answer.
  for (CollectiveKind kind : kAllCollectiveKinds) {
    auto entries = algorithmsFor(kind);
    ASSERT_FALSE(entries.empty()) << collectiveName(kind);
    const AlgorithmEntry& last = entries.back();
    EXPECT_EQ(last.canRun, nullptr) << collectiveName(kind);
    SelectionContext large;
    large.bytes = 1 << 30;
    EXPECT_TRUE(last.preferred(large, CollectivePolicy{}, nullptr)) << collectiveName(kind);
  }
}

TEST(AlgorithmRegistry, CostModelsSayWhyEachExists) {
  const AlgorithmEntry* ring = findAlgorithm(CollectiveKind::kAllreduce, "ring");
  const AlgorithmEntry* rd = findAlgorithm(CollectiveKind::kAllreduce, "rd");
  ASSERT_NE(ring, nullptr);
  ASSERT_NE(rd, nullptr);
  EXPECT_EQ(ring->id, 1);  // kolo-bench reports ids; they never change
  // rd has fewer steps, ring moves fewer bytes.
  EXPECT_LT(rd->latencySteps(8), ring->latencySteps(8));
  EXPECT_LT(ring->bandwidthFactor(8), rd->bandwidthFactor(8));
  EXPECT_DOUBLE_EQ(ring->bandwidthFactor(4), 1.5);
}

TEST(AlgorithmRegistry, NamesAliasesAndErrors) {
  EXPECT_EQ(findAlgorithm(CollectiveKind::kAllreduce, "RING")->name, "ring");
  EXPECT_EQ(findAlgorithm(CollectiveKind::kAllreduce, "recursive_doubling")->name, "rd");
  EXPECT_EQ(findAlgorithm(CollectiveKind::kAllreduce, "Hierarchical")->name, "hier");
  EXPECT_EQ(findAlgorithm(CollectiveKind::kAllreduce, "tree"), nullptr);
  EXPECT_EQ(findAlgorithm(CollectiveKind::kBroadcast, "tree")->name, "binomial");
  EXPECT_EQ(algorithmNames(CollectiveKind::kAllreduce), "shm|hier|rd|adasum|ring");
  auto automatic = resolveAlgorithm(CollectiveKind::kAllgather, "auto");
  ASSERT_TRUE(automatic.hasValue());
  EXPECT_EQ(*automatic, nullptr);
  auto unknown = resolveAlgorithm(CollectiveKind::kAllgather, "rd");
  ASSERT_FALSE(unknown.hasValue());
  EXPECT_EQ(unknown.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(),
              ::testing::HasSubstr("unknown allgather algorithm 'rd' (known: auto|shm|hier|ring)"));
  // The entry points reject an unknown name before any rank sends a byte.
  auto world = makeLoopbackWorld(1);
  Communicator comm(world[0], nullptr, {});
  std::vector<float> v(4, 1.0f);
  Status s = allreduce(comm, v.data(), v.data(), v.size(), DataType::kFloat32, ReduceOp::kSum,
                       "butterfly");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("'butterfly' (known: auto|shm|hier|rd|adasum|ring)"));
}

TEST(AlgorithmSpec, RulesPerSizeRange) {
  auto rules = parseAlgorithmSpec(CollectiveKind::kAllreduce, "shm:0-64K, ring:64K-");
  ASSERT_TRUE(rules.hasValue()) << rules.status().toString();
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_EQ((*rules)[0].algorithm->name, "shm");
  EXPECT_EQ((*rules)[0].minBytes, 0u);
  EXPECT_EQ((*rules)[0].maxBytes, 64u << 10);
  EXPECT_EQ((*rules)[1].algorithm->name, "ring");
  EXPECT_EQ((*rules)[1].minBytes, 64u << 10);
  EXPECT_EQ((*rules)[1].maxBytes, UINT64_MAX);
  CollectivePolicy policy{*rules, std::nullopt};
  EXPECT_EQ(policy.forcedFor(0)->name, "shm");
  EXPECT_EQ(policy.forcedFor((64 << 10) - 1)->name, "shm");
  EXPECT_EQ(policy.forcedFor(64 << 10)->name, "ring");
  // A gap and an "auto" rule leave their sizes to the cost model; the first match wins.
  policy = test::policyFromSpec(CollectiveKind::kAllreduce, "rd:-1K,auto:1K-1M,ring");
  EXPECT_EQ(policy.forcedFor(10)->name, "rd");
  EXPECT_EQ(policy.forcedFor(4096), nullptr);
  EXPECT_EQ(policy.forcedFor(1 << 20)->name, "ring");
  EXPECT_TRUE(test::policyFromSpec(CollectiveKind::kAllreduce, "auto").rules.empty());
  EXPECT_EQ(test::policyFromSpec(CollectiveKind::kBroadcast, "pipeline").forcedFor(1)->name,
            "pipeline");
}

TEST(AlgorithmSpec, MalformedSpecsNameTheSettingAndTheText) {
  const std::pair<const char*, const char*> cases[] = {
      {"bogus", "unknown allreduce algorithm 'bogus'"},
      {"ring:64K", "'64K' is not a size range LOW-HIGH"},
      {"ring:x-1M", "'x' is not a byte size"},
      {"ring:1M-64K", "range '1M-64K' is empty"},
      {":0-1K", "':0-1K' names no algorithm"},
      {"shm:0-64K,ring:64K-,hier:1X-", "'1X' is not a byte size"},
  };
  for (const auto& [spec, why] : cases) {
    auto rules = parseAlgorithmSpec(CollectiveKind::kAllreduce, spec);
    ASSERT_FALSE(rules.hasValue()) << spec;
    EXPECT_EQ(rules.status().code(), Code::kInvalidArgument) << spec;
    EXPECT_THAT(rules.status().message(),
                ::testing::HasSubstr(fmt::format("KOLO_ALLREDUCE_ALGO='{}'", spec)));
    EXPECT_THAT(rules.status().message(), ::testing::HasSubstr(why)) << spec;
  }
}

TEST(AlgorithmSpec, ReadOnceFromTheEnvironment) {
  {
    ScopedEnv spec("KOLO_ALLREDUCE_ALGO", "rd:0-4K,ring:4K-");
    ScopedEnv gather("KOLO_ALLGATHER_ALGO", "ring");
    auto policy = selectionPolicyFromEnv();
    ASSERT_TRUE(policy.hasValue()) << policy.status().toString();
    EXPECT_EQ(policy->of(CollectiveKind::kAllreduce).rules.size(), 2u);
    EXPECT_EQ(policy->of(CollectiveKind::kAllgather).forcedFor(1 << 30)->name, "ring");
    EXPECT_TRUE(policy->of(CollectiveKind::kBroadcast).empty());
  }
  {
    ScopedEnv bad("KOLO_BROADCAST_ALGO", "ring");
    auto policy = selectionPolicyFromEnv();
    ASSERT_FALSE(policy.hasValue());
    EXPECT_THAT(policy.status().message(),
                ::testing::HasSubstr("KOLO_BROADCAST_ALGO='ring' (expected auto, one of shm, "
                                     "binomial, pipeline or rules like shm:0-64K,pipeline:64K-)"));
  }
}

// The policy reads names it builds from the collectives' names, which no lint can see: every
// one of them must be a declared setting (reading an undeclared one aborts).
TEST(AlgorithmSpec, EverySettingTheSelectorReadsIsDeclared) {
  for (CollectiveKind kind : kAllCollectiveKinds) {
    EXPECT_NE(findSetting(algorithmSettingName(kind)), nullptr) << algorithmSettingName(kind);
  }
  for (CollectiveKind kind : {CollectiveKind::kAllreduce, CollectiveKind::kAllgather}) {
    const SettingDecl* decl = findSetting(hierarchicalSettingName(kind));
    ASSERT_NE(decl, nullptr) << hierarchicalSettingName(kind);
    EXPECT_EQ(decl->alias, "HOROVOD_HIERARCHICAL_" + std::string(kind == CollectiveKind::kAllreduce
                                                                     ? "ALLREDUCE"
                                                                     : "ALLGATHER"));
  }
}

TEST(SelectAlgorithm, AutoPicksBySizeWithoutArena) {
  auto world = makeLoopbackWorld(4);
  Communicator comm(world[0], nullptr, {});
  EXPECT_EQ(selectAlgorithm(comm, CollectiveKind::kAllreduce, 8).name, "rd");
  EXPECT_EQ(selectAlgorithm(comm, CollectiveKind::kAllreduce, 64 * 1024 - 1).name, "rd");
  EXPECT_EQ(selectAlgorithm(comm, CollectiveKind::kAllreduce, 64 * 1024).name, "ring");
  EXPECT_EQ(selectAlgorithm(comm, CollectiveKind::kAllreduce, 256 << 20).name, "ring");
  EXPECT_EQ(selectAlgorithm(comm, CollectiveKind::kBroadcast, 8).name, "binomial");
  EXPECT_EQ(selectAlgorithm(comm, CollectiveKind::kBroadcast, 1 << 20).name, "pipeline");
  EXPECT_EQ(selectAlgorithm(comm, CollectiveKind::kAllgather, 8).name, "ring");
  EXPECT_EQ(selectAlgorithm(comm, CollectiveKind::kBarrier, 0).name, "dissemination");
}

TEST(SelectAlgorithm, PolicyOverridesPerSizeAndFallsBack) {
  auto world = makeLoopbackWorld(2);
  auto communicator = [&](int r, std::shared_ptr<ShmArena> arena, std::string_view spec) {
    CommunicatorOptions options;
    options.algorithms = test::allreducePolicy(spec);
    return std::make_unique<Communicator>(world[r], std::move(arena), options);
  };
  const auto kAllreduce = CollectiveKind::kAllreduce;
  auto ring = communicator(0, nullptr, "ring");
  EXPECT_EQ(selectAlgorithm(*ring, kAllreduce, 8).name, "ring");
  auto rd = communicator(0, nullptr, "rd");
  EXPECT_EQ(selectAlgorithm(*rd, kAllreduce, 1 << 30).name, "rd");
  auto shm = communicator(1, std::make_shared<RecordingArena>(1, 2), "shm");
  EXPECT_EQ(selectAlgorithm(*shm, kAllreduce, 1 << 30).name, "shm");
  // shm cannot run without an arena: auto decides.
  auto noArena = communicator(0, nullptr, "shm");
  EXPECT_EQ(selectAlgorithm(*noArena, kAllreduce, 8).name, "rd");
  EXPECT_EQ(selectAlgorithm(*noArena, kAllreduce, 1 << 20).name, "ring");
  // Per size range: ring for small sizes over the arena, the arena above.
  auto ranged = communicator(1, std::make_shared<RecordingArena>(1, 2), "ring:0-64K");
  EXPECT_EQ(selectAlgorithm(*ranged, kAllreduce, 8).name, "ring");
  EXPECT_EQ(selectAlgorithm(*ranged, kAllreduce, 64 << 10).name, "shm");
  auto plainArena = communicator(1, std::make_shared<RecordingArena>(1, 2), "auto");
  EXPECT_EQ(selectAlgorithm(*plainArena, kAllreduce, 8).name, "shm");
}

// Every allreduce algorithm that can run on a plain threaded world, forced by the policy.
TEST(SelectAlgorithm, ForcedAlgorithmStillComputesTheRightResult) {
  std::vector<std::string> specs = {"auto", "rd:0-1K,ring:1K-"};
  for (const AlgorithmEntry& entry : algorithmsFor(CollectiveKind::kAllreduce)) {
    if (canRun(entry, SelectionContext{})) specs.emplace_back(entry.name);
  }
  for (const std::string& spec : specs) {
    test::ThreadedWorldOptions options;
    options.algorithms = test::allreducePolicy(spec);
    for (size_t count : {size_t{5}, size_t{100000}}) {
      std::vector<std::byte> expected(count * 4);
      test::referenceAllreduce(DataType::kFloat32, ReduceOp::kSum, 3, count, 8, expected.data());
      auto results = test::runThreadedWorld(
          3,
          [&](Communicator& comm) -> Status {
            auto buf =
                test::makeInput(DataType::kFloat32, ReduceOp::kSum, comm.rank(), 3, count, 8);
            KOLO_RETURN_IF_ERROR(
                allreduce(comm, buf.data(), buf.data(), count, DataType::kFloat32, ReduceOp::kSum));
            std::string diff =
                test::compareExact(DataType::kFloat32, expected.data(), buf.data(), count);
            return diff.empty() ? Status::ok() : Status(Code::kInternal, diff);
          },
          options);
      EXPECT_EQ(test::describeFailures(results), "") << spec << " count=" << count;
    }
  }
}

TEST(ArenaDelegation, AllreduceBroadcastAndBarrierUseTheArena) {
  auto world = makeLoopbackWorld(2);
  auto arena = std::make_shared<RecordingArena>(0, 2);
  Communicator comm(world[0], arena, {});
  std::vector<uint8_t> send(16, 1), recv(16, 0);
  ASSERT_TRUE(
      allreduce(comm, send.data(), recv.data(), 16, DataType::kUInt8, ReduceOp::kSum).isOk());
  EXPECT_EQ(arena->allreduces, 1);
  EXPECT_EQ(recv, std::vector<uint8_t>(16, 0x7E));
  ASSERT_TRUE(allreduce(comm, send.data(), recv.data(), 16, DataType::kUInt8, ReduceOp::kSum, "shm")
                  .isOk());
  EXPECT_EQ(arena->allreduces, 2);
  ASSERT_TRUE(broadcast(comm, recv.data(), recv.size(), 1).isOk());
  EXPECT_EQ(arena->broadcasts, 1);
  EXPECT_EQ(arena->lastRoot, 1);
  ASSERT_TRUE(barrier(comm).isOk());
  EXPECT_EQ(arena->barriers, 1);
}

TEST(ArenaDelegation, ReduceScatterAllgatherAndAlltoallUseTheArena) {
  auto world = makeLoopbackWorld(2);
  auto arena = std::make_shared<RecordingArena>(0, 2);
  Communicator comm(world[0], arena, {});
  std::vector<uint8_t> send(16, 1), recv(16, 0);
  const std::vector<size_t> counts{8, 8};
  ASSERT_TRUE(reduceScatter(comm, send.data(), recv.data(), counts, DataType::kUInt8,
                            ReduceOp::kSum)
                  .isOk());
  EXPECT_EQ(arena->reduceScatters, 1);
  EXPECT_EQ(std::vector<uint8_t>(recv.begin(), recv.begin() + 8), std::vector<uint8_t>(8, 0x7E));
  ASSERT_TRUE(allgather(comm, send.data(), recv.data(), 8).isOk());
  EXPECT_EQ(arena->allgathers, 1);
  ASSERT_TRUE(allgatherv(comm, send.data(), recv.data(), counts, "shm").isOk());
  EXPECT_EQ(arena->allgathers, 2);
  ASSERT_TRUE(alltoall(comm, send.data(), recv.data(), 8).isOk());
  ASSERT_TRUE(alltoallv(comm, send.data(), counts, recv.data(), counts, "shm").isOk());
  EXPECT_EQ(arena->alltoalls, 2);
  EXPECT_EQ(selectAlgorithm(comm, CollectiveKind::kReduceScatter, 1 << 30).name, "shm");
  EXPECT_EQ(selectAlgorithm(comm, CollectiveKind::kAllgather, 8).name, "shm");
  EXPECT_EQ(selectAlgorithm(comm, CollectiveKind::kAlltoall, 1 << 30).name, "shm");
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
      results[r] =
          allreduce(comm, v.data(), v.data(), v.size(), DataType::kInt32, ReduceOp::kSum, "ring");
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
