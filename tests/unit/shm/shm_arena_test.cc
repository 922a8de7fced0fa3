// ShmDirectArena: allreduce (small and pipelined paths), broadcast and barrier against a
// reference, over world sizes {1,2,3,4,5,7,8}, every dtype and op, in place and out of place.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "kolo/collectives/reduce.h"
#include "shm_test_world.h"
#include "support/collective_reference.h"

namespace kolo {
namespace {

using ::kolo::testing::leftoverSegments;
using ::kolo::testing::runShmWorld;

constexpr int kWorldSizes[] = {1, 2, 3, 4, 5, 7, 8};

constexpr uint64_t kSeed = 0x5eed;

// Shared deterministic inputs (exact in every dtype, so the reference is bit-exact).
std::vector<std::byte> makeInput(int rank, int size, size_t count, DataType type, ReduceOp op) {
  return test::makeInput(type, op, rank, size, count, kSeed);
}

std::vector<std::byte> reference(int size, size_t count, DataType type, ReduceOp op) {
  std::vector<std::byte> out(count * dataTypeSize(type));
  test::referenceAllreduce(type, op, size, count, kSeed, out.data());
  return out;
}

std::vector<std::byte> bytePattern(int rank, size_t bytes) {
  std::vector<std::byte> v(bytes);
  test::fillBytes(rank, bytes, kSeed, v.data());
  return v;
}

struct Case {
  size_t count;
  DataType type;
  ReduceOp op;
};

std::vector<Case> sweepCases(bool withHuge) {
  std::vector<Case> cases;
  for (size_t count : {size_t(0), size_t(1), size_t(7), size_t(1000), size_t(20000)}) {
    for (DataType t : kAllDataTypes) {
      for (ReduceOp op : kAllReduceOps) cases.push_back({count, t, op});
    }
  }
  if (withHuge) {
    const size_t huge = (size_t(1) << 20) + 3;
    cases.push_back({huge, DataType::kFloat32, ReduceOp::kSum});
    cases.push_back({huge, DataType::kBFloat16, ReduceOp::kAverage});
    cases.push_back({huge, DataType::kInt8, ReduceOp::kMax});
    cases.push_back({huge, DataType::kFloat64, ReduceOp::kProduct});
  }
  return cases;
}

// Every rank runs every case; rank 0 checks the results of all ranks (identical bits) after
// each case through a shared table.
void runSweep(int size, const ShmTuning& tuning, bool withHuge) {
  const std::vector<Case> cases = sweepCases(withHuge);
  std::vector<std::vector<std::byte>> results(size);
  std::atomic<bool> failed{false};
  runShmWorld(size, tuning, [&](int rank, ShmWorld& w) {
    for (size_t k = 0; k < cases.size(); ++k) {
      const Case& c = cases[k];
      std::vector<std::byte> in = makeInput(rank, size, c.count, c.type, c.op);
      const bool inPlace = (k % 2) == 0;
      std::vector<std::byte> out(in.size(), std::byte{0x5a});
      Status st = inPlace ? w.arena->allreduce(in.data(), in.data(), c.count, c.type, c.op,
                                               Deadline::afterSeconds(10))
                          : w.arena->allreduce(in.data(), out.data(), c.count, c.type, c.op,
                                               Deadline::afterSeconds(10));
      ASSERT_TRUE(st.isOk()) << st.toString();
      if (!inPlace) {
        EXPECT_EQ(in, makeInput(rank, size, c.count, c.type, c.op))
            << "out-of-place input modified";
      }
      results[rank] = inPlace ? std::move(in) : std::move(out);
      ASSERT_TRUE(w.arena->barrier(Deadline::afterSeconds(10)).isOk());
      if (rank == 0) {
        std::vector<std::byte> want = reference(size, c.count, c.type, c.op);
        for (int q = 0; q < size && !failed; ++q) {
          std::string diff = test::compareExact(c.type, want.data(), results[q].data(), c.count);
          if (!diff.empty()) failed = true;
          EXPECT_EQ(diff, "") << "size " << size << " rank " << q << " count " << c.count << " "
                              << dataTypeName(c.type) << " " << reduceOpName(c.op)
                              << (inPlace ? " in place" : " out of place");
        }
      }
      // Rank 0 checks every rank's result meanwhile (slow under sanitizers).
      ASSERT_TRUE(w.arena->barrier(Deadline::afterSeconds(60)).isOk());
      if (failed) return;  // every rank stops at the same case
    }
  });
}

class ShmArenaSweep : public ::testing::TestWithParam<int> {};

TEST_P(ShmArenaSweep, AllreduceMatchesReferenceDefaultTuning) {
  runSweep(GetParam(), ShmTuning{}, /*withHuge=*/true);
}

TEST_P(ShmArenaSweep, AllreduceMatchesReferenceWithManySmallChunks) {
  // 4 KiB chunks and a 256 B small path: 1000- and 20000-element cases run through dozens of
  // pipelined chunks, reusing every staging slot many times.
  ShmTuning t;
  t.smallBytes = 256;
  t.chunkBytes = 4096;
  t.pipelineDepth = 2;
  runSweep(GetParam(), t, /*withHuge=*/false);
}

TEST_P(ShmArenaSweep, BroadcastFromEveryRoot) {
  const int size = GetParam();
  ShmTuning t;
  t.chunkBytes = 4096;
  runShmWorld(size, t, [&](int rank, ShmWorld& w) {
    for (int root = 0; root < size; ++root) {
      for (size_t bytes : {size_t(0), size_t(1), size_t(4096), size_t(100003)}) {
        std::vector<std::byte> buf = bytePattern(rank, bytes);
        std::vector<std::byte> want = bytePattern(root, bytes);
        ASSERT_TRUE(w.arena->broadcast(buf.data(), bytes, root, Deadline::afterSeconds(10)).isOk());
        ASSERT_EQ(buf, want) << "root " << root << " bytes " << bytes << " rank " << rank;
      }
    }
  });
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, ShmArenaSweep, ::testing::ValuesIn(kWorldSizes));

TEST(ShmArena, Float32SumIsInRankOrderAndBitIdenticalOnEveryRank) {
  // Random floats: the rounding of every partial sum depends on the order, so this fails if any
  // rank or sub-range reduces in another order than ((x0 + x1) + x2) + ...
  for (size_t count : {size_t(1000), size_t(300000)}) {
    const int size = 5;
    std::vector<std::vector<float>> inputs(size);
    std::mt19937 gen(7);
    std::uniform_real_distribution<float> dist(-1e3f, 1e3f);
    for (auto& v : inputs) {
      v.resize(count);
      for (float& x : v) x = dist(gen) * std::pow(10.0f, float(int(gen() % 9)) - 4.0f);
    }
    std::vector<float> want(inputs[0]);
    for (int q = 1; q < size; ++q) {
      for (size_t i = 0; i < count; ++i) want[i] = want[i] + inputs[q][i];
    }
    std::vector<std::vector<float>> got(size);
    runShmWorld(size, ShmTuning{}, [&](int rank, ShmWorld& w) {
      got[rank] = inputs[rank];
      ASSERT_TRUE(w.arena
                      ->allreduce(got[rank].data(), got[rank].data(), count, DataType::kFloat32,
                                  ReduceOp::kSum, Deadline::afterSeconds(10))
                      .isOk());
    });
    for (int q = 0; q < size; ++q) {
      ASSERT_EQ(std::memcmp(got[q].data(), want.data(), count * 4), 0) << "rank " << q;
    }
  }
}

TEST(ShmArena, OutputsBeyondTheCacheAreStreamedCorrectly) {
  // >= 32 MiB out of place (and broadcast) takes the streaming-store copy-out; the output
  // starts 4 bytes past a 16-byte boundary so the unaligned head and tail are exercised too.
  const size_t count = (size_t(32) << 20) / 4 + 5;
  runShmWorld(2, ShmTuning{}, [&](int rank, ShmWorld& w) {
    std::vector<int32_t> in(count), out(count + 4, -1);
    for (size_t i = 0; i < count; ++i) in[i] = int32_t(i * 3 + rank);
    int32_t* dst = out.data() + 1;
    ASSERT_TRUE(w.arena
                    ->allreduce(in.data(), dst, count, DataType::kInt32, ReduceOp::kSum,
                                Deadline::afterSeconds(20))
                    .isOk());
    for (size_t i = 0; i < count; ++i) {
      ASSERT_EQ(dst[i], int32_t(i * 6 + 1)) << "rank " << rank << " element " << i;
    }
    EXPECT_EQ(out[0], -1);
    EXPECT_EQ(out[count + 1], -1);
    if (rank == 1) std::fill(dst, dst + count, 0);
    ASSERT_TRUE(w.arena->broadcast(dst, count * 4, 0, Deadline::afterSeconds(20)).isOk());
    for (size_t i = 0; i < count; ++i) {
      ASSERT_EQ(dst[i], int32_t(i * 6 + 1)) << "broadcast, rank " << rank << " element " << i;
    }
  });
}

// A small allreduce reads this rank's input from send unless recv shares bytes with it: an
// output shifted by one element either way over the input must still get the exact result.
TEST(ShmArena, SmallAllreduceIntoAnOutputOverlappingItsInput) {
  for (int size : {2, 3}) {
    runShmWorld(size, ShmTuning{}, [&](int rank, ShmWorld& w) {
      const DataType type = DataType::kFloat32;
      const ReduceOp op = ReduceOp::kSum;
      const size_t esize = dataTypeSize(type);
      for (size_t count : {size_t(2), size_t(100)}) {
        for (bool outputFirst : {true, false}) {
          const std::vector<std::byte> in = makeInput(rank, size, count, type, op);
          std::vector<std::byte> buffer((count + 1) * esize);
          std::byte* send = buffer.data() + (outputFirst ? esize : 0);
          std::byte* recv = buffer.data() + (outputFirst ? 0 : esize);
          std::copy(in.begin(), in.end(), send);
          Status st =
              w.arena->allreduce(send, recv, count, type, op, Deadline::afterSeconds(10));
          ASSERT_TRUE(st.isOk()) << st.toString();
          const std::vector<std::byte> want = reference(size, count, type, op);
          EXPECT_EQ(test::compareExact(type, want.data(), recv, count), "")
              << "size " << size << " rank " << rank << " count " << count
              << (outputFirst ? ", output one element before the input" : ", after it");
        }
      }
    });
  }
}

TEST(ShmArena, BarrierHoldsEveryRankUntilAllArrive) {
  const int size = 4;
  std::atomic<int> arrived{0};
  runShmWorld(size, ShmTuning{}, [&](int rank, ShmWorld& w) {
    for (int round = 1; round <= 50; ++round) {
      if ((round + rank) % 7 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      arrived.fetch_add(1);
      ASSERT_TRUE(w.arena->barrier(Deadline::afterSeconds(10)).isOk());
      EXPECT_GE(arrived.load(), round * size)
          << "rank " << rank << " left barrier " << round << " early";
      ASSERT_TRUE(w.arena->barrier(Deadline::afterSeconds(10)).isOk());
    }
  });
}

TEST(ShmArena, ConsecutiveOpsOfMixedKindsStayInStep) {
  // Small, large, broadcast and barrier interleaved many times reuse slots of both parities
  // and every staging slot without a barrier between them.
  const int size = 3;
  ShmTuning t;
  t.chunkBytes = 4096;
  runShmWorld(size, t, [&](int rank, ShmWorld& w) {
    for (int iter = 0; iter < 200; ++iter) {
      size_t count = (iter % 3 == 0) ? 5000 : size_t(iter % 17 + 1);
      std::vector<int32_t> v(count);
      for (size_t i = 0; i < count; ++i) v[i] = int32_t(i) + rank * 1000 + iter;
      ASSERT_TRUE(w.arena
                      ->allreduce(v.data(), v.data(), count, DataType::kInt32, ReduceOp::kSum,
                                  Deadline::afterSeconds(10))
                      .isOk());
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(v[i], 3 * (int32_t(i) + iter) + 3000) << "iter " << iter << " i " << i;
      }
      if (iter % 5 == 0) {
        std::vector<int32_t> b(3000, rank == iter % size ? iter : -1);
        ASSERT_TRUE(
            w.arena->broadcast(b.data(), b.size() * 4, iter % size, Deadline::afterSeconds(10))
                .isOk());
        ASSERT_EQ(b, std::vector<int32_t>(3000, iter));
      }
    }
  });
  EXPECT_THAT(leftoverSegments(), ::testing::IsEmpty());
}

TEST(ShmArena, SmallBroadcastRootsNeverOverwriteASlowReader) {
  // A small broadcast's root waits for nobody, so it runs ahead of its readers; between
  // broadcasts, small allreduces and allgathers write the same slots. Ranks stall now and then
  // so that a root that reused a slot too early would hand a reader the wrong op's bytes.
  const int size = 3;
  runShmWorld(size, ShmTuning{}, [&](int rank, ShmWorld& w) {
    const Deadline deadline = Deadline::afterSeconds(20);
    for (int iter = 0; iter < 400; ++iter) {
      if ((iter + rank) % 37 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      const int root = (iter / 3) % size;  // runs of the same root, then another
      std::vector<int32_t> b(16, rank == root ? iter : -1);
      ASSERT_TRUE(w.arena->broadcast(b.data(), b.size() * 4, root, deadline).isOk());
      ASSERT_EQ(b, std::vector<int32_t>(16, iter)) << "broadcast, iter " << iter << " rank " << rank;
      if (iter % 4 == 1) {
        int32_t v = rank + iter;
        ASSERT_TRUE(
            w.arena->allreduce(&v, &v, 1, DataType::kInt32, ReduceOp::kSum, deadline).isOk());
        ASSERT_EQ(v, 3 * iter + 3) << "allreduce, iter " << iter;
      } else if (iter % 4 == 3) {
        const std::vector<size_t> bytes(size, 4);
        int32_t mine = rank * 100 + iter;
        std::vector<int32_t> all(size);
        ASSERT_TRUE(w.arena->allgatherv(&mine, all.data(), bytes, deadline).isOk());
        ASSERT_EQ(all, (std::vector<int32_t>{iter, 100 + iter, 200 + iter})) << "iter " << iter;
      }
    }
    // Broadcasts only, long runs of one root: nothing but the cells' own flow control keeps
    // the root from overwriting what a stalled reader has not read yet.
    for (int iter = 0; iter < 300; ++iter) {
      const int root = (iter / 25) % size;
      if (rank != root && (iter + rank) % 11 == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      std::vector<int32_t> b(8, rank == root ? 7000 + iter : -1);
      ASSERT_TRUE(w.arena->broadcast(b.data(), b.size() * 4, root, deadline).isOk());
      ASSERT_EQ(b, std::vector<int32_t>(8, 7000 + iter)) << "run of broadcasts, iter " << iter;
    }
  });
  EXPECT_THAT(leftoverSegments(), ::testing::IsEmpty());
}

}  // namespace
}  // namespace kolo
