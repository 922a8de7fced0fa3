#include "kolo/launcher/rank_exit.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

namespace kolo::launcher {
namespace {

// A wait status as the kernel builds it (glibc's W_EXITCODE / W_STOPCODE layout).
int exitedWith(int code) {
  return code << 8;
}
int killedBy(int sig) {
  return sig;
}

TEST(RankExit, ProgramExitsAndSignals) {
  const RankSite local{"localhost", false, {0, 1}};
  auto ok = describeRankExit(exitedWith(0), local);
  ASSERT_TRUE(ok.has_value());
  EXPECT_FALSE(ok->failed);
  auto three = describeRankExit(exitedWith(3), local);
  ASSERT_TRUE(three.has_value());
  EXPECT_TRUE(three->failed);
  EXPECT_EQ(three->code, 3);
  EXPECT_EQ(three->what, "exited with code 3");
  auto killed = describeRankExit(killedBy(SIGKILL), local);
  ASSERT_TRUE(killed.has_value());
  EXPECT_EQ(killed->code, 128 + SIGKILL);
  EXPECT_EQ(killed->what, "was killed by signal 9 (SIGKILL)");
  EXPECT_FALSE(describeRankExit(0x7f | (SIGSTOP << 8), local).has_value()) << "stopped";
}

// ssh's 255 for a rank on a remote host is the host lost, with every rank it ran; a local
// program's own 255 stays its exit code.
TEST(RankExit, SshLosingItsHostNamesTheHostAndItsRanks) {
  auto lost = describeRankExit(exitedWith(255), RankSite{"h2", true, {2, 3}});
  ASSERT_TRUE(lost.has_value());
  EXPECT_TRUE(lost->failed);
  EXPECT_EQ(lost->code, 255);
  EXPECT_EQ(lost->what,
            "lost its host: the ssh connection to h2 ended (ssh exit code 255; the host or its "
            "network is down, or sshd was stopped); rank(s) 2, 3 ran there");
  auto own = describeRankExit(exitedWith(255), RankSite{"localhost", false, {0}});
  ASSERT_TRUE(own.has_value());
  EXPECT_EQ(own->what, "exited with code 255");
  auto remoteOther = describeRankExit(exitedWith(4), RankSite{"h2", true, {2, 3}});
  ASSERT_TRUE(remoteOther.has_value());
  EXPECT_EQ(remoteOther->what, "exited with code 4");
}

TEST(RankExit, ASilentRemoteRankNamesItsHostAndItsRanks) {
  const std::string reason = "sent no heartbeat for 10.0 s (frozen, stopped or cut off)";
  EXPECT_EQ(describeSilentRank(reason, RankSite{"h2", true, {2, 3}}),
            reason + "; host h2 runs rank(s) 2, 3");
  EXPECT_EQ(describeSilentRank(reason, RankSite{"localhost", false, {0, 1}}), reason);
}

}  // namespace
}  // namespace kolo::launcher
