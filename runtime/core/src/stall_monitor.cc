#include "stall_monitor.h"

#include "kolo/base/logging.h"

namespace kolo::core {

bool StallMonitor::check(const TensorTable& table, const Negotiator& negotiator) {
  const Clock::time_point now = Clock::now();
  if (!inspector_.due(now)) return false;
  const StallInspector::Findings f = inspector_.inspect(table.snapshot(), negotiator, now);
  bool cycle = f.retry;
  if (f.stalled > 0 && metrics_) metrics_->recordStall(f.stalled);
  if (f.stalled > 0 && listener_) listener_();
  if (f.abort && !abortVote_) {
    abortVote_ = true;
    cycle = true;
  }
  return cycle;
}

void StallMonitor::abort(TensorTable& table, const Negotiator& negotiator) {
  const Status aborted(Code::kAborted, inspector_.abortMessage(negotiator));
  KOLO_LOG(kError, "stall", "rank {}: {}", globalRank_, aborted.message());
  for (const PendingOpPtr& op : table.takeDrawn()) op->state->complete(aborted);
}

}  // namespace kolo::core
