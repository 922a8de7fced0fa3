#include "kolo/launcher/remote_command.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "kolo/base/deadline.h"
#include "kolo/launcher/build_info.h"
#include "kolo/launcher/launch_options.h"
#include "kolo/launcher/rank_spawner.h"

namespace kolo::launcher {
namespace {

using Words = std::vector<std::string>;

TEST(RemoteCommand, SshCommandKeepsHostKeyCheckingAndPassesPortAndKey) {
  SshOptions options;
  options.port = 2222;
  options.identityFile = "/home/u/.ssh/id_ed25519";
  EXPECT_EQ(buildSshCommand(options, "node7", "LINE"),
            (Words{"ssh", "-p", "2222", "-i", "/home/u/.ssh/id_ed25519", "-o", "BatchMode=yes",
                   "-o", "ConnectTimeout=10", "-T", "node7", "LINE"}));
  EXPECT_EQ(buildSshCommand(SshOptions{}, "n", "x"),
            (Words{"ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-T", "n", "x"}));
  for (const std::string& word : buildSshCommand(options, "n", "x")) {
    EXPECT_EQ(word.find("StrictHostKeyChecking"), std::string::npos);
  }
}

// Runs a remote line with a local sh, as sshd would: stdin carries the secret and stays open.
struct LocalShell {
  RankProcess process;
  explicit LocalShell(const std::string& line) {
    auto spawned = spawnRank(0, "/bin/sh", {"sh", "-c", line}, {"PATH=/usr/bin:/bin"}, {},
                             remoteStdin("s3cr3t"));
    EXPECT_TRUE(spawned.hasValue()) << spawned.status().toString();
    if (spawned) process = *spawned;
  }
  // Output until end-of-file (deadline 10 s) and the exit status.
  std::pair<std::string, int> finish() {
    std::string out;
    Deadline deadline = Deadline::afterSeconds(10);
    while (!deadline.expired()) {
      pollfd p{process.stdoutFd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buffer[256];
      ssize_t n = ::read(process.stdoutFd, buffer, sizeof(buffer));
      if (n <= 0) break;
      out.append(buffer, static_cast<size_t>(n));
    }
    int status = -1;
    while (!deadline.expired() && ::waitpid(process.pid, &status, WNOHANG) == 0) {
      ::usleep(10000);
    }
    if (deadline.expired()) ::kill(-process.pid, SIGKILL);
    for (int fd : {process.stdoutFd, process.stderrFd, process.stdinFd}) {
      if (fd >= 0) ::close(fd);
    }
    process.stdinFd = -1;
    return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
  }
};

TEST(RemoteCommand, RemoteLineReadsSecretFromStdinAndNeverCarriesIt) {
  Environment vars = {{"KOLO_RANK", "3"}, {"KOLO_SECRET", "deadbeef"}, {"MSG", "it's here"}};
  std::string line = buildRemoteLine(
      vars, {"sh", "-c", "echo \"$KOLO_SECRET|$KOLO_RANK|$MSG|$(pwd)\"; exit 5"}, "/tmp");
  EXPECT_EQ(line.find("deadbeef"), std::string::npos);
  EXPECT_EQ(line.rfind("IFS= read -r KOLO_SECRET && export KOLO_SECRET && cd /tmp", 0), 0u) << line;
  EXPECT_EQ(remoteStdin("deadbeef"), "deadbeef\n");
  LocalShell shell(line);
  auto [out, code] = shell.finish();
  EXPECT_EQ(out, "s3cr3t|3|it's here|/tmp\n");
  EXPECT_EQ(code, 5) << "the rank's exit status must come back through ssh";
}

TEST(RemoteCommand, RemoteRankStopsWhenItsStdinCloses) {
  LocalShell shell(buildRemoteLine({}, {"sh", "-c", "echo started; exec sleep 30"}, "/"));
  char buffer[16] = {};
  pollfd p{shell.process.stdoutFd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
  ASSERT_GT(::read(shell.process.stdoutFd, buffer, sizeof(buffer)), 0);
  // kolorun (or its ssh) going away closes the pipe; the remote rank must get SIGTERM.
  ::close(shell.process.stdinFd);
  shell.process.stdinFd = -1;
  auto [out, code] = shell.finish();
  EXPECT_EQ(code, 128 + SIGTERM);
}

TEST(RemoteCommand, SshPreflightNamesTheUnreachableHost) {
  SshOptions options;
  options.connectTimeoutSeconds = 2;
  Status status = checkSshReachable({"kolo-unreachable-host.invalid"}, options);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.message().find("1 host(s) cannot be reached with ssh"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("kolo-unreachable-host.invalid:"), std::string::npos)
      << status.message();
}

TEST(RemoteCommand, MpirunGetsEquivalentFlagsAndNoValues) {
  auto assignment = HostAssignment::blockPlace(
      {HostSlots{"a", "10.0.0.1", 2, false}, HostSlots{"b", "10.0.0.2", 2, false}}, 3);
  ASSERT_TRUE(assignment.hasValue());
  EXPECT_EQ(buildMpirunCommand(*assignment, "none", {"KOLO_STORE", "KOLO_SECRET"},
                               {"./prog", "-np", "9"}),
            (Words{"mpirun", "-np", "3", "--host", "a:2,b:1", "--bind-to", "none", "--tag-output",
                   "-x", "KOLO_STORE", "-x", "KOLO_SECRET", "./prog", "-np", "9"}));
}

TEST(RemoteCommand, ShellQuote) {
  EXPECT_EQ(shellQuote("plain-1.2/x=y:z"), "plain-1.2/x=y:z");
  EXPECT_EQ(shellQuote(""), "''");
  EXPECT_EQ(shellQuote("$HOME"), "'$HOME'");
  EXPECT_EQ(joinCommand({"a", "b c"}), "a 'b c'");
}

TEST(BuildInfo, CheckBuildListsEveryBackend) {
  std::string report = checkBuildReport();
  for (const char* name :
       {"[X] shm", "[X] tcp", "] MPI", "] NCCL", "] CUDA", "] hwloc", "] torch adapter"}) {
    EXPECT_NE(report.find(name), std::string::npos) << name << "\n" << report;
  }
}

// tests/lint/check_settings.py checks that every KOLO_* name the sources read is declared, and
// so is in this table.
TEST(BuildInfo, HelpEnvHasOneRowPerVariableWithDefault) {
  std::string table = helpEnvTable();
  EXPECT_EQ(table.rfind("VARIABLE", 0), 0u);
  for (const char* row : {"KOLO_TIMEOUT_SECONDS", "KOLO_START_TIMEOUT", "KOLO_FUSION_THRESHOLD",
                          "KOLO_LOG_LEVEL", "KOLO_TRANSPORT", "KOLO_ALLREDUCE_ALGO"}) {
    size_t at = table.find(std::string("\n") + row + " ");
    EXPECT_NE(at, std::string::npos) << row;
    EXPECT_EQ(table.find(std::string("\n") + row + " ", at + 1), std::string::npos)
        << row << " listed twice";
  }
}

TEST(LaunchOptions, RankListParsing) {
  EXPECT_EQ(parseRankList("0").value(), (std::set<int>{0}));
  EXPECT_EQ(parseRankList("3,0-2").value(), (std::set<int>{0, 1, 2, 3}));
  for (const char* bad : {"", "a", "3-1", "-1", "1,"}) {
    auto ranks = parseRankList(bad);
    EXPECT_FALSE(ranks.hasValue()) << bad;
  }
}

}  // namespace
}  // namespace kolo::launcher
