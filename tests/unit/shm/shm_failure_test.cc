// Failures: a peer that never arrives becomes kTimeout naming it and the stage; a peer process
// that dies (or is a zombie) becomes kIoError naming its rank, in arena and message waits;
// bootstrap timeouts; no /dev/shm leftovers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "kolo/collectives/communicator.h"
#include "kolo/rendezvous/file_store.h"
#include "shm_test_world.h"

namespace kolo {
namespace {

using ::kolo::testing::leftoverSegments;
using ::kolo::testing::runShmWorld;
using ::testing::HasSubstr;

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

TEST(ShmFailure, SilentPeerInSmallAllreduceTimesOutNamingIt) {
  runShmWorld(3, ShmTuning{}, [&](int rank, ShmWorld& w) {
    if (rank == 2) return;  // never arrives
    float v = 1.0f;
    auto start = Clock::now();
    Status st = w.arena->allreduce(&v, &v, 1, DataType::kFloat32, ReduceOp::kSum,
                                   Deadline::afterSeconds(0.3));
    EXPECT_EQ(st.code(), Code::kTimeout);
    EXPECT_THAT(st.message(), HasSubstr("small allreduce: rank 2 did not contribute its data"));
    EXPECT_LT(secondsSince(start), 5.0);
    // The world is now out of step: later calls fail at once instead of hanging.
    Status again = w.arena->barrier(Deadline::afterSeconds(30));
    EXPECT_EQ(again.code(), Code::kAborted);
    EXPECT_THAT(again.message(), HasSubstr("rank 2"));
  });
}

TEST(ShmFailure, SilentPeersInPipelinedAllreduceAreAllNamed) {
  ShmTuning t;
  t.smallBytes = 256;
  t.chunkBytes = 4096;
  runShmWorld(4, t, [&](int rank, ShmWorld& w) {
    if (rank >= 2) return;
    std::vector<double> v(10000, 1.0);
    Status st = w.arena->allreduce(v.data(), v.data(), v.size(), DataType::kFloat64, ReduceOp::kSum,
                                   Deadline::afterSeconds(0.3));
    EXPECT_EQ(st.code(), Code::kTimeout);
    EXPECT_THAT(st.message(), HasSubstr("allreduce chunk 0: ranks 2, 3 did not stage its data"));
  });
}

TEST(ShmFailure, SilentBroadcastRootIsNamed) {
  runShmWorld(2, ShmTuning{}, [&](int rank, ShmWorld& w) {
    if (rank == 1) return;
    // A small broadcast (one slot) and, on a fresh world, a large one (chunks).
    std::vector<char> buf(100);
    Status st = w.arena->broadcast(buf.data(), buf.size(), 1, Deadline::afterSeconds(0.2));
    EXPECT_EQ(st.code(), Code::kTimeout);
    EXPECT_THAT(st.message(), HasSubstr("small broadcast: rank 1 did not publish its data"));
  });
  runShmWorld(2, ShmTuning{}, [&](int rank, ShmWorld& w) {
    if (rank == 1) return;
    std::vector<char> buf(1 << 20);
    Status st = w.arena->broadcast(buf.data(), buf.size(), 1, Deadline::afterSeconds(0.2));
    EXPECT_EQ(st.code(), Code::kTimeout);
    EXPECT_THAT(st.message(), HasSubstr("broadcast chunk 0: rank 1 did not publish its data"));
  });
}

TEST(ShmFailure, MissingRankTimesOutInBootstrapWithoutLeavingASegment) {
  MemoryStore store;
  WorldSpec spec;
  spec.rank = 0;
  spec.size = 2;
  spec.jobId = ::kolo::testing::uniqueJobId("missing");
  spec.connectTimeoutSeconds = 0.3;
  auto start = Clock::now();
  auto world = connectShm(store, spec);
  ASSERT_FALSE(world.hasValue());
  EXPECT_EQ(world.status().code(), Code::kTimeout);
  EXPECT_THAT(world.status().message(), HasSubstr("waiting for all 2 ranks"));
  EXPECT_LT(secondsSince(start), 5.0);
  EXPECT_THAT(leftoverSegments(), ::testing::IsEmpty());
}

TEST(ShmFailure, StaleSegmentWithTheSameNameIsReplaced) {
  // A dead job left its segment behind under the name this world will use.
  const std::string job = ::kolo::testing::uniqueJobId("stale");
  const std::string path = fmt::format("/dev/shm/kolo-{}-{}-1", job, getpid());
  {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("junk", f);
    std::fclose(f);
  }
  runShmWorld(
      2, ShmTuning{},
      [&](int rank, ShmWorld& w) {
        int64_t v = rank + 1;
        ASSERT_TRUE(
            w.arena
                ->allreduce(&v, &v, 1, DataType::kInt64, ReduceOp::kSum, Deadline::afterSeconds(10))
                .isOk());
        EXPECT_EQ(v, 3);
      },
      job);
  EXPECT_FALSE(std::filesystem::exists(path));
}

// A forked rank 1 that joins a two-rank world in `dir`'s store and exits without taking part
// in anything; this process is rank 0 of that world.
struct DeadPeerWorld {
  pid_t child = -1;
  Expected<ShmWorld> world;
};

DeadPeerWorld joinWithExitingPeer(const char* dir, const std::string& job) {
  DeadPeerWorld out{-1, Status(Code::kInternal, "not connected")};
  WorldSpec spec;
  spec.size = 2;
  spec.jobId = job;
  spec.connectTimeoutSeconds = 20;
  out.child = fork();
  if (out.child == 0) {
    auto store = FileStore::open(dir);
    if (!store) _exit(2);
    spec.rank = 1;
    auto world = connectShm(**store, spec);
    _exit(world.hasValue() ? 0 : 3);
  }
  auto store = FileStore::open(dir);
  if (!store) return out;
  spec.rank = 0;
  out.world = connectShm(**store, spec);
  return out;
}

TEST(ShmFailure, DeadPeerProcessIsReportedWithItsPid) {
  char dir[] = "/tmp/kolo-shm-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  DeadPeerWorld w = joinWithExitingPeer(dir, ::kolo::testing::uniqueJobId("dead"));
  ASSERT_GT(w.child, 0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(w.child, &wstatus, 0), w.child);  // reaped: kill(pid, 0) now fails
  ASSERT_TRUE(w.world.hasValue()) << w.world.status().toString();
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  std::vector<float> v(100000, 1.0f);
  auto start = Clock::now();
  Status st = w.world->arena->allreduce(v.data(), v.data(), v.size(), DataType::kFloat32,
                                        ReduceOp::kSum, Deadline::afterSeconds(20));
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_THAT(st.message(), HasSubstr(fmt::format("rank 1 exited (its process is gone), pid {}", w.child)));
  EXPECT_LT(secondsSince(start), 2.0);
  std::filesystem::remove_all(dir);
}

TEST(ShmFailure, ZombiePeerIsLostAndEndsAMessageWait) {
  // Rank 1 exited but nobody reaped it yet (its launcher is slow): kill(pid, 0) still succeeds,
  // yet nothing will ever come from it.
  char dir[] = "/tmp/kolo-shm-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  DeadPeerWorld w = joinWithExitingPeer(dir, ::kolo::testing::uniqueJobId("zombie"));
  ASSERT_GT(w.child, 0);
  ASSERT_TRUE(w.world.hasValue()) << w.world.status().toString();
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(w.child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_EQ(w.world->transport->lostPeer(), 1);
  Communicator comm(w.world->transport, nullptr, CommunicatorOptions{});
  std::vector<std::byte> buf(64);
  std::vector<TransferRequestPtr> recv;
  recv.push_back(comm.peer(1).postRecv(7, buf));
  auto start = Clock::now();
  Status st = comm.waitAll(recv, Deadline::afterSeconds(20));
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_THAT(st.message(), HasSubstr("rank 0: rank 1 exited (its process is gone) while "
                                      "waiting for recv of 64 B from rank 1"));
  EXPECT_LT(secondsSince(start), 2.0);
  ASSERT_EQ(waitpid(w.child, nullptr, 0), w.child);
  EXPECT_EQ(w.world->transport->lostPeer(), 1);
  std::filesystem::remove_all(dir);
}

TEST(ShmFailure, LivePeersAreNotLost) {
  runShmWorld(3, ShmTuning{}, [&](int, ShmWorld& w) { EXPECT_EQ(w.transport->lostPeer(), -1); });
}

}  // namespace
}  // namespace kolo
