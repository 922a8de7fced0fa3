#include "kolo/launcher/rank_exit.h"

#include <fmt/format.h>
#include <sys/wait.h>

#include <cstring>

namespace kolo::launcher {

namespace {

// ssh's own exit status for an error of its own (a lost or refused connection).
constexpr int kSshError = 255;

std::string rankList(const std::vector<int>& ranks) {
  std::string out;
  for (int r : ranks) out += (out.empty() ? "" : ", ") + std::to_string(r);
  return out;
}

}  // namespace

std::string signalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  if (abbrev == nullptr) return fmt::format("signal {}", sig);
  return fmt::format("SIG{}", abbrev);
}

std::optional<RankExit> describeRankExit(int waitStatus, const RankSite& site) {
  RankExit exit;
  if (WIFEXITED(waitStatus)) {
    exit.code = WEXITSTATUS(waitStatus);
    exit.failed = exit.code != 0;
    exit.what = fmt::format("exited with code {}", exit.code);
    if (site.overSsh && exit.code == kSshError) {
      exit.what = fmt::format(
          "lost its host: the ssh connection to {} ended (ssh exit code 255; the host or its "
          "network is down, or sshd was stopped); rank(s) {} ran there",
          site.host, rankList(site.ranksOnHost));
    }
    return exit;
  }
  if (WIFSIGNALED(waitStatus)) {
    const int sig = WTERMSIG(waitStatus);
    exit.code = 128 + sig;
    exit.failed = true;
    exit.what = fmt::format("was killed by signal {} ({})", sig, signalName(sig));
    return exit;
  }
  return std::nullopt;
}

std::string describeSilentRank(const std::string& reason, const RankSite& site) {
  if (!site.overSsh) return reason;
  return fmt::format("{}; host {} runs rank(s) {}", reason, site.host, rankList(site.ranksOnHost));
}

}  // namespace kolo::launcher
