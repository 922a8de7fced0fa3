// Supervisor: its view of the ranks it started (which run, which run here) and the signals it
// sends them. See kolo/launcher/supervisor.h.
#include <signal.h>

#include <algorithm>

#include "kolo/launcher/supervisor.h"

namespace kolo::launcher {

std::map<int, pid_t> Supervisor::localRanks() const {
  std::map<int, pid_t> ranks;
  for (const Rank& r : ranks_) {
    if (!r.reaped && !r.overSsh) ranks[r.rank] = r.pid;
  }
  return ranks;
}

bool Supervisor::signalRank(int rank, int sig) {
  for (const Rank& r : ranks_) {
    if (r.rank == rank && !r.reaped) return ::kill(-r.pid, sig) == 0;
  }
  return false;
}

void Supervisor::signalRunning(int sig) {
  // Only unreaped ranks: a reaped rank's pid (and group id) may already belong to someone else.
  for (const Rank& rank : ranks_) {
    if (!rank.reaped) ::kill(-rank.pid, sig);
  }
}

int Supervisor::runningCount() const {
  return static_cast<int>(
      std::count_if(ranks_.begin(), ranks_.end(), [](const Rank& r) { return !r.reaped; }));
}

bool Supervisor::anyStreamOpen() const {
  for (const Rank& rank : ranks_) {
    for (const Stream& stream : rank.streams) {
      if (stream.fd >= 0) return true;
    }
  }
  return false;
}

}  // namespace kolo::launcher
