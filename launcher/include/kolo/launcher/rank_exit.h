// RankExit: what kolorun says about a rank process that ended, from its wait status. A rank on a
// remote host is an ssh client on this machine; ssh exits with 255 when its connection ends, so
// that exit is reported as the host being lost (with every rank it ran), not as the program's
// own exit code.
// Thread: any (pure).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace kolo::launcher {

struct RankExit {
  int code = 0;  // the exit code, or 128 + the signal
  bool failed = false;
  std::string what;  // "exited with code 3", "was killed by signal 9 (SIGKILL)", ...
};

// Where the rank ran: `overSsh` for a rank started through a remote shell on `host`, whose
// ranks (this one included) are `ranksOnHost`.
struct RankSite {
  std::string host;
  bool overSsh = false;
  std::vector<int> ranksOnHost;
};

// "SIGKILL" for 9; "signal N" for a number without a name.
std::string signalName(int sig);

// Empty for a status that is not an exit (stopped, continued).
std::optional<RankExit> describeRankExit(int waitStatus, const RankSite& site);

// kolorun's liveness verdict on a rank (a missed heartbeat, a stop), with the host and every
// rank it runs when the rank is remote: a host cut off from the network falls silent whole.
std::string describeSilentRank(const std::string& reason, const RankSite& site);

}  // namespace kolo::launcher
