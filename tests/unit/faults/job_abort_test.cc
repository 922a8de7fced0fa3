#include "kolo/base/job_abort.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "kolo/base/abort_token.h"
#include "kolo/collectives/collectives.h"
#include "support/threaded_world.h"

namespace kolo {
namespace {

TEST(PeerFailure, RoundTripsThroughTheStoreRecord) {
  PeerFailure f;
  f.rank = 3;
  f.host = "node7";
  f.pid = 4242;
  f.reason = "was killed by signal 9 (SIGKILL)\nsecond line";
  f.reporter = "kolorun";
  auto back = PeerFailure::decode(f.encode());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->rank, 3);
  EXPECT_EQ(back->host, "node7");
  EXPECT_EQ(back->pid, 4242);
  EXPECT_EQ(back->reason, "was killed by signal 9 (SIGKILL) second line");
  EXPECT_EQ(back->reporter, "kolorun");
  Status s = back->toStatus();
  EXPECT_EQ(s.code(), Code::kRemoteError);
  EXPECT_EQ(s.message(),
            "rank 3 (host node7, pid 4242) failed: was killed by signal 9 (SIGKILL) second line "
            "[seen by kolorun]");
}

TEST(PeerFailure, RecordsWithoutARankAreRejected) {
  EXPECT_FALSE(PeerFailure::decode("").has_value());
  EXPECT_FALSE(PeerFailure::decode("host=a\nreason=b\n").has_value());
  EXPECT_FALSE(PeerFailure::decode("rank=x\n").has_value());
  EXPECT_TRUE(PeerFailure::decode("rank=0\n").has_value());
}

TEST(AbortToken, FirstVerdictWins) {
  AbortToken token;
  EXPECT_FALSE(token.aborted());
  EXPECT_TRUE(token.status().isOk());
  EXPECT_TRUE(token.raise(Status(Code::kRemoteError, "rank 1 failed: first")));
  EXPECT_FALSE(token.raise(Status(Code::kRemoteError, "rank 2 failed: second")));
  EXPECT_TRUE(token.aborted());
  EXPECT_EQ(token.status().message(), "rank 1 failed: first");
}

TEST(AbortToken, PublisherIsCalledOnlyWhileSet) {
  AbortToken token;
  PeerFailure f;
  f.rank = 1;
  EXPECT_FALSE(token.publish(f));
  int published = -1;
  token.setPublisher([&](const PeerFailure& p) { published = p.rank; });
  EXPECT_TRUE(token.publish(f));
  EXPECT_EQ(published, 1);
  token.setPublisher({});
  EXPECT_FALSE(token.publish(f));
  EXPECT_FALSE(token.watched());
  token.setWatched(true);
  EXPECT_TRUE(token.watched());
  EXPECT_EQ(jobAbortKey("job7"), "job7/abort");
  EXPECT_EQ(jobAbortClaimKey("job7"), "job7/abort.claim");
  EXPECT_EQ(jobHeartbeatKey("job7", 3), "job7/heartbeat/3");
}

// Two jobs in one process: the verdict on one fails its pending collective with the verdict's
// status and leaves the other job's collectives running.
TEST(AbortToken, AbortsOnlyTheJobThatOwnsIt) {
  const Status verdict(Code::kRemoteError, "rank 1 (host b, pid 9) failed: was stopped (SIGSTOP)");
  test::ThreadedWorldOptions failed;
  failed.abort = std::make_shared<AbortToken>();
  failed.opTimeoutSeconds = 20.0;
  auto results = test::runThreadedWorld(
      2,
      [&](Communicator& comm) -> Status {
        if (comm.rank() == 1) {  // never joins: rank 0 waits until the verdict arrives
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          comm.abortToken().raise(verdict);
          return Status::ok();
        }
        std::vector<float> v(1024, 1.0f);
        return coll::allreduce(comm, v.data(), v.data(), v.size(), DataType::kFloat32,
                               ReduceOp::kSum);
      },
      failed);
  EXPECT_EQ(results[0].code(), Code::kRemoteError) << results[0].toString();
  EXPECT_NE(results[0].message().find(verdict.message()), std::string::npos)
      << results[0].message();
  EXPECT_TRUE(results[1].isOk()) << results[1].toString();
  ASSERT_TRUE(failed.abort->aborted());

  test::ThreadedWorldOptions healthy;
  healthy.abort = std::make_shared<AbortToken>();
  auto sums = test::runThreadedWorld(
      2,
      [&](Communicator& comm) -> Status {
        std::vector<float> v(1024, static_cast<float>(comm.rank() + 1));
        KOLO_RETURN_IF_ERROR(coll::allreduce(comm, v.data(), v.data(), v.size(), DataType::kFloat32,
                                             ReduceOp::kSum));
        for (float x : v) {
          if (x != 3.0f) return makeStatus(Code::kInternal, "sum {} != 3", x);
        }
        return Status::ok();
      },
      healthy);
  for (const Status& s : sums) EXPECT_TRUE(s.isOk()) << s.toString();
  EXPECT_FALSE(healthy.abort->aborted());
}

}  // namespace
}  // namespace kolo
