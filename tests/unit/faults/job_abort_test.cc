#include "kolo/base/job_abort.h"

#include <gtest/gtest.h>

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

TEST(JobAbort, FirstVerdictWins) {
  resetJobAbortForTesting();
  EXPECT_FALSE(jobAborted());
  EXPECT_TRUE(jobAbortStatus().isOk());
  EXPECT_TRUE(raiseJobAbort(Status(Code::kRemoteError, "rank 1 failed: first")));
  EXPECT_FALSE(raiseJobAbort(Status(Code::kRemoteError, "rank 2 failed: second")));
  EXPECT_TRUE(jobAborted());
  EXPECT_EQ(jobAbortStatus().message(), "rank 1 failed: first");
  resetJobAbortForTesting();
  EXPECT_FALSE(jobAborted());
}

TEST(JobAbort, PublisherIsCalledOnlyWhileSet) {
  PeerFailure f;
  f.rank = 1;
  EXPECT_FALSE(publishJobAbort(f));
  int published = -1;
  setJobAbortPublisher([&](const PeerFailure& p) { published = p.rank; });
  EXPECT_TRUE(publishJobAbort(f));
  EXPECT_EQ(published, 1);
  setJobAbortPublisher({});
  EXPECT_FALSE(publishJobAbort(f));
  EXPECT_EQ(jobAbortKey("job7"), "job7/abort");
  EXPECT_EQ(jobAbortClaimKey("job7"), "job7/abort.claim");
  EXPECT_EQ(jobHeartbeatKey("job7", 3), "job7/heartbeat/3");
}

}  // namespace
}  // namespace kolo
