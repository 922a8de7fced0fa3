// f16 / bf16 allreduce and reduce-scatter sums at 8 ranks: float32 accumulation, one rounding per
// element, and the same bits from every algorithm (shm arena, ring and recursive doubling over
// shm and TCP, hierarchical over two simulated hosts, ring over interleaved hosts).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "half_sum_reference.h"
#include "kolo/collectives/collectives.h"
#include "kolo/rendezvous/memory_store.h"
#include "support/threaded_world.h"
#include "unit/hierarchical/hierarchical_world.h"
#include "unit/shm/shm_test_world.h"
#include "unit/tcp/tcp_world.h"

namespace kolo::coll {
namespace {

using test::HalfInputs;

constexpr int kRanks = 8;
constexpr uint64_t kSeed = 2024;
// 1000 elements take the arena's small path and fit in one ring chunk; 300001 take its pipelined
// path, and several chunks per ring segment.
constexpr size_t kCounts[] = {1000, 300001};

struct HalfCase {
  DataType type;
  ReduceOp op;
  HalfInputs inputs;
};

std::string describe(const HalfCase& c, size_t count) {
  return fmt::format("{} {} {} inputs, count {}", dataTypeName(c.type), reduceOpName(c.op),
                     c.inputs == HalfInputs::kExact ? "exact" : "spread", count);
}

std::vector<HalfCase> allCases() {
  std::vector<HalfCase> cases;
  for (DataType type : {DataType::kFloat16, DataType::kBFloat16}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
      for (HalfInputs inputs : {HalfInputs::kExact, HalfInputs::kSpread}) {
        cases.push_back({type, op, inputs});
      }
    }
  }
  return cases;
}

// Checks `got` (element `first` onwards of the result) against the float64 bounds; the message
// names the first element outside them.
std::string checkBounds(const HalfCase& c, const uint16_t* got, size_t first, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const test::HalfBounds b = test::halfBounds(c.type, c.inputs, c.op, kRanks, first + i, kSeed);
    const double v = test::halfValue(c.type, got[i]);
    if (!(v >= b.lo && v <= b.hi)) {
      return fmt::format("element {}: got {} (0x{:04x}), want {} in [{}, {}]", first + i, v, got[i],
                         b.lo == b.hi ? "exactly" : "a value", b.lo, b.hi);
    }
  }
  return "";
}

// Runs one allreduce of every case on `comm` with `algorithm`, checks each result, and records
// its bytes under `label` so that the algorithms can be compared with each other.
using ResultBook = std::map<std::string, std::vector<uint16_t>>;

Status allreduceCases(Communicator& comm, const std::string& algorithm, ResultBook* book) {
  for (const HalfCase& c : allCases()) {
    for (size_t count : kCounts) {
      std::vector<uint16_t> data = test::halfInputs(c.type, c.inputs, comm.rank(), count, kSeed);
      KOLO_RETURN_IF_ERROR(
          allreduce(comm, data.data(), data.data(), count, c.type, c.op, algorithm));
      const std::string diff = checkBounds(c, data.data(), 0, count);
      if (!diff.empty()) {
        return makeStatus(Code::kInternal, "{} ({}) on rank {}: {}", describe(c, count), algorithm,
                          comm.rank(), diff);
      }
      if (book != nullptr && comm.rank() == 0) (*book)[describe(c, count)] = std::move(data);
    }
  }
  return Status::ok();
}

// For exact inputs the bounds are one value, so every algorithm must give the same bits; this
// compares them directly (rank 0's results) so that a failure names the two algorithms.
void expectSameBitsForExactInputs(const std::map<std::string, ResultBook>& byAlgorithm) {
  ASSERT_GE(byAlgorithm.size(), 2u);
  const auto& [firstName, first] = *byAlgorithm.begin();
  for (const auto& [name, book] : byAlgorithm) {
    for (const auto& [label, bits] : first) {
      if (label.find("exact") == std::string::npos) continue;
      ASSERT_TRUE(book.count(label)) << name << " has no result for " << label;
      EXPECT_TRUE(book.at(label) == bits) << name << " vs " << firstName << ": " << label;
    }
  }
}

TEST(HalfSum, ExactInputsNeedOneRoundingNotOnePerStep) {
  // The exact inputs would catch per-step rounding: it differs from round16(sum) somewhere.
  for (DataType type : {DataType::kFloat16, DataType::kBFloat16}) {
    const HalfCase c{type, ReduceOp::kSum, HalfInputs::kExact};
    const std::vector<uint16_t> stepwise =
        test::pairwiseRoundedSum(type, HalfInputs::kExact, kRanks, 1000, kSeed);
    EXPECT_NE(checkBounds(c, stepwise.data(), 0, stepwise.size()), "") << dataTypeName(type);
  }
}

TEST(HalfSum, ShmArenaRingAndRecursiveDoublingAtEightRanks) {
  std::map<std::string, ResultBook> results;
  for (const std::string algorithm : {"shm", "ring", "rd"}) {
    ResultBook& book = results[algorithm];
    kolo::testing::runShmWorld(kRanks, ShmTuning{}, [&](int rank, ShmWorld& w) {
      Communicator comm(w.transport, w.arena, CommunicatorOptions{60.0});
      const Status st = allreduceCases(comm, algorithm, rank == 0 ? &book : nullptr);
      EXPECT_TRUE(st.isOk()) << st.toString();
    });
  }
  expectSameBitsForExactInputs(results);
}

TEST(HalfSum, RingAndRecursiveDoublingOverTcpAtEightRanks) {
  MemoryStore store;
  const auto transports = test::connectTcpWorld(kRanks, store, test::uniqueJobId("half-sum"));
  std::map<std::string, ResultBook> results;
  for (const std::string algorithm : {"ring", "rd"}) {
    ResultBook& book = results[algorithm];
    const auto statuses = test::runRanks(
        transports,
        [&](int rank, Communicator& comm) {
          return allreduceCases(comm, algorithm, rank == 0 ? &book : nullptr);
        },
        60.0, 240.0);
    EXPECT_EQ(test::describeFailures(statuses), "") << algorithm;
  }
  expectSameBitsForExactInputs(results);
}

TEST(HalfSum, HierarchicalAndHostOrderedRingAtEightRanks) {
  // hier: two hosts of four; ring: interleaved hosts, so ring positions differ from ranks.
  const std::vector<std::string> blocks = {"a", "a", "a", "a", "b", "b", "b", "b"};
  const std::vector<std::string> interleaved = {"a", "b", "a", "b", "a", "b", "a", "b"};
  std::map<std::string, ResultBook> results;
  for (const auto& [algorithm, hosts] :
       {std::pair{std::string("hier"), blocks}, std::pair{std::string("ring"), interleaved}}) {
    ResultBook& book = results[algorithm];
    const auto statuses = test::runHierarchicalWorld(hosts, [&](Communicator& comm) {
      return allreduceCases(comm, algorithm, comm.rank() == 0 ? &book : nullptr);
    });
    EXPECT_EQ(test::describeFailures(statuses), "") << algorithm;
  }
  expectSameBitsForExactInputs(results);
}

TEST(HalfSum, ReduceScatterAtEightRanks) {
  const size_t count = 300001;
  std::vector<size_t> counts(kRanks, count / kRanks);
  counts[0] += count % kRanks;
  std::vector<size_t> offsets(kRanks, 0);
  for (int r = 1; r < kRanks; ++r) offsets[r] = offsets[r - 1] + counts[r - 1];
  const auto results = test::runThreadedWorld(kRanks, [&](Communicator& comm) -> Status {
    for (const HalfCase& c : allCases()) {
      const std::vector<uint16_t> in =
          test::halfInputs(c.type, c.inputs, comm.rank(), count, kSeed);
      std::vector<uint16_t> out(counts[comm.rank()]);
      KOLO_RETURN_IF_ERROR(reduceScatter(comm, in.data(), out.data(), counts, c.type, c.op));
      const std::string diff = checkBounds(c, out.data(), offsets[comm.rank()], out.size());
      if (!diff.empty()) {
        return makeStatus(Code::kInternal, "{} on rank {}: {}", describe(c, count), comm.rank(),
                          diff);
      }
    }
    return Status::ok();
  });
  EXPECT_EQ(test::describeFailures(results), "");
}

}  // namespace
}  // namespace kolo::coll
