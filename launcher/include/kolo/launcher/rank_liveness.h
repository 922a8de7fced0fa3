// RankLiveness: the ranks kolorun must declare failed although they have not exited.
//
// A stopped process (SIGSTOP, a frozen container) never exits and never errors; its peers only
// see silence, which on a loaded machine also looks like a process that is merely not being
// scheduled. The two are told apart by who looks:
//  - a local rank is kolorun's child, so the kernel tells kolorun the truth at once
//    (waitpid WUNTRACED): stopped is a state, not a guess. One that stays stopped for
//    `stoppedGraceSeconds` has failed, with exit code 128 + SIGSTOP.
//  - a remote rank (or any rank, as a second line) is held to its heartbeat: the rank's Kolo
//    session adds 1 to a store counter every KOLO_HEARTBEAT_SECONDS from a thread of its own.
//    A counter that stands still for `heartbeatTimeoutSeconds` means the whole process is not
//    running. The time counted is kolorun's own awake time: when kolorun itself was not
//    scheduled for a while (the machine is overloaded), that gap is not held against the ranks,
//    so a busy machine slows detection down instead of causing false verdicts.
// Plain class without clocks of its own or processes: the Supervisor feeds it, tests drive it.
// Thread: the supervisor's.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "kolo/base/deadline.h"

namespace kolo::launcher {

class RankLiveness {
 public:
  struct Verdict {
    int rank = -1;
    int exitCode = 0;  // what kolorun reports for this rank
    std::string reason;
  };

  RankLiveness(double stoppedGraceSeconds, double heartbeatTimeoutSeconds,
               double checkIntervalSeconds = 1.0);

  void stopped(int rank, Clock::time_point now);
  void continued(int rank);
  void exited(int rank);
  // The heartbeat counts of ranks whose Kolo session is open; a rank absent from `beats` is not
  // held to a heartbeat (not started yet, or finished its session).
  void observe(const std::map<int, int64_t>& beats, Clock::time_point now);
  // The first rank (lowest number) found failed, if any.
  std::optional<Verdict> check(Clock::time_point now) const;
  // When check() may next find something new (stop graces run out, heartbeats are due).
  Clock::time_point nextCheck(Clock::time_point now) const;
  bool watchesHeartbeats() const { return heartbeatTimeout_.count() > 0; }

 private:
  struct Beat {
    int64_t count = 0;
    Clock::time_point changed{};  // on kolorun's awake-time axis
  };
  Clock::duration stoppedGrace_;
  Clock::duration heartbeatTimeout_;
  Clock::duration checkInterval_;
  std::map<int, Clock::time_point> stopped_;
  std::map<int, Beat> beats_;
  std::optional<Clock::time_point> lastObserved_;
};

// From the store's "<prefix><rank>" (count) and "<prefix><rank>/state" ("open ..." or
// "closed") keys: the counts of the ranks whose session is open.
std::map<int, int64_t> parseHeartbeats(const std::map<std::string, std::string>& values,
                                       const std::string& prefix);

}  // namespace kolo::launcher
