#include "stall_inspector.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "kolo/base/logging.h"

namespace kolo::core {
namespace {

std::string describe(const PendingTensor& t) {
  return fmt::format("'{}' ({}): submitted by ranks [{}], missing ranks [{}]", t.name,
                     opTypeName(t.op), fmt::join(t.submittedRanks, ", "),
                     fmt::join(t.missingRanks, ", "));
}

}  // namespace

StallInspector::StallInspector(double warningSeconds, double shutdownSeconds)
    : warningSeconds_(warningSeconds), shutdownSeconds_(shutdownSeconds) {
  double shortest = 1.0;
  if (warningSeconds_ > 0) shortest = std::min(shortest, warningSeconds_ / 4);
  if (shutdownSeconds_ > 0) shortest = std::min(shortest, shutdownSeconds_ / 4);
  interval_ = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::max(shortest, 0.01)));
}

bool StallInspector::due(Clock::time_point now) {
  if (warningSeconds_ <= 0 && shutdownSeconds_ <= 0) return false;
  if (now < next_) return false;
  next_ = now + interval_;
  return true;
}

StallInspector::Findings StallInspector::inspect(const std::vector<PendingOpPtr>& ops,
                                                 const Negotiator& negotiator,
                                                 Clock::time_point now) {
  Findings f;
  std::vector<PendingTensor> pending;
  bool havePending = false;
  for (const PendingOpPtr& op : ops) {
    if (!op->drawn) continue;
    const double age = std::chrono::duration<double>(now - op->submittedAt).count();
    const bool warn = warningSeconds_ > 0 && age >= warningSeconds_;
    const bool fail = shutdownSeconds_ > 0 && age >= shutdownSeconds_;
    if ((warn || fail) && !op->stallWarned) {
      op->stallWarned = true;
      ++f.stalled;
      f.retry = true;  // negotiate it next cycle, so every replica sees who is missing
    }
    if (fail) f.abort = true;
    if (warn && !op->stallReported && negotiator.isPending(op->request.tensorName)) {
      if (!havePending) {
        pending = negotiator.pendingTensors();
        havePending = true;
      }
      auto it = std::find_if(pending.begin(), pending.end(), [&](const PendingTensor& t) {
        return t.name == op->request.tensorName;
      });
      if (it != pending.end()) {
        op->stallReported = true;
        KOLO_LOG(kWarning, "stall",
                 "stalled for {:.1f} s: tensor {} (a rank skipped it, or submits names in "
                 "another order); pending ops fail after KOLO_STALL_SHUTDOWN_SECONDS={}",
                 age, describe(*it), shutdownSeconds_);
      }
    }
  }
  return f;
}

std::string StallInspector::abortMessage(const Negotiator& negotiator) const {
  std::string names;
  for (const PendingTensor& t : negotiator.pendingTensors()) {
    if (!names.empty()) names += "; ";
    names += describe(t);
  }
  return fmt::format(
      "stalled for more than KOLO_STALL_SHUTDOWN_SECONDS={} s: {}; every rank failed its "
      "pending ops",
      shutdownSeconds_, names.empty() ? std::string("no tensor reached negotiation") : names);
}

}  // namespace kolo::core
