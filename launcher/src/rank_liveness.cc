#include "kolo/launcher/rank_liveness.h"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>

namespace kolo::launcher {
namespace {

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

double toSeconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

RankLiveness::RankLiveness(double stoppedGraceSeconds, double heartbeatTimeoutSeconds,
                           double checkIntervalSeconds)
    : stoppedGrace_(seconds(std::max(0.0, stoppedGraceSeconds))),
      heartbeatTimeout_(seconds(std::max(0.0, heartbeatTimeoutSeconds))),
      checkInterval_(seconds(checkIntervalSeconds > 0 ? checkIntervalSeconds : 1.0)) {}

void RankLiveness::stopped(int rank, Clock::time_point now) {
  stopped_.emplace(rank, now);  // a second stop report keeps the first time
}

void RankLiveness::continued(int rank) {
  stopped_.erase(rank);
  beats_.erase(rank);  // it was not beating while stopped: start its clock afresh
}

void RankLiveness::exited(int rank) {
  stopped_.erase(rank);
  beats_.erase(rank);
}

void RankLiveness::observe(const std::map<int, int64_t>& beats, Clock::time_point now) {
  // kolorun slept longer than it meant to (the machine is overloaded): the ranks may have been
  // starved just the same, so that stretch does not count against them.
  if (lastObserved_ && now - *lastObserved_ > 2 * checkInterval_) {
    const Clock::duration lost = now - *lastObserved_ - checkInterval_;
    for (auto& [rank, beat] : beats_) beat.changed += lost;
  }
  lastObserved_ = now;
  for (auto it = beats_.begin(); it != beats_.end();) {
    it = beats.count(it->first) ? std::next(it) : beats_.erase(it);
  }
  for (const auto& [rank, count] : beats) {
    auto [it, inserted] = beats_.try_emplace(rank, Beat{count, now});
    if (!inserted && it->second.count != count) it->second = Beat{count, now};
  }
}

std::optional<RankLiveness::Verdict> RankLiveness::check(Clock::time_point now) const {
  std::optional<Verdict> found;
  auto consider = [&](Verdict v) {
    if (!found || v.rank < found->rank) found = std::move(v);
  };
  for (const auto& [rank, since] : stopped_) {
    if (now - since < stoppedGrace_) continue;
    consider({rank, 128 + SIGSTOP,
              fmt::format("was stopped (SIGSTOP) for {:.1f} s", toSeconds(now - since))});
  }
  if (heartbeatTimeout_.count() > 0) {
    for (const auto& [rank, beat] : beats_) {
      if (stopped_.count(rank) || now - beat.changed < heartbeatTimeout_) continue;
      consider({rank, 128 + SIGKILL,
                fmt::format("sent no heartbeat for {:.1f} s (frozen, stopped or cut off); kolorun "
                            "kills it",
                            toSeconds(now - beat.changed))});
    }
  }
  return found;
}

Clock::time_point RankLiveness::nextCheck(Clock::time_point now) const {
  Clock::time_point next = Clock::time_point::max();
  for (const auto& [rank, since] : stopped_) next = std::min(next, since + stoppedGrace_);
  if (heartbeatTimeout_.count() > 0) next = std::min(next, now + checkInterval_);
  return std::max(next, now);
}

std::map<int, int64_t> parseHeartbeats(const std::map<std::string, std::string>& values,
                                       const std::string& prefix) {
  std::map<int, int64_t> counts;
  std::map<int, bool> open;
  for (const auto& [key, value] : values) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = key.substr(prefix.size());
    const size_t slash = rest.find('/');
    int rank = -1;
    try {
      size_t used = 0;
      rank = std::stoi(rest.substr(0, slash), &used);
      if (used != rest.substr(0, slash).size()) continue;
    } catch (...) {
      continue;
    }
    if (slash == std::string::npos) {
      counts[rank] = std::strtoll(value.c_str(), nullptr, 10);
    } else if (rest.substr(slash) == "/state") {
      open[rank] = value.rfind("open", 0) == 0;
    }
  }
  std::map<int, int64_t> result;
  for (const auto& [rank, isOpen] : open) {
    if (isOpen) result[rank] = counts.count(rank) ? counts[rank] : 0;
  }
  return result;
}

}  // namespace kolo::launcher
