// FailureAgreement: one verdict on a failed op, agreed across the ranks of a job. A
// transport-level failure (timeout, dead peer) is only this rank's partial view; when kolorun's
// verdict is watched (the job's AbortToken), the set waits briefly for it so that every survivor
// reports the same failed rank. A control message that fails its checksum is judged the same way on
// every member, and that verdict is published to kolorun's store so it becomes the job's. Thread:
// coordinator (also as OpExecutor's failure filter, which runs there).
#pragma once

#include <cstdint>

#include "kolo/base/abort_token.h"
#include "kolo/base/status.h"

namespace kolo::core {

class FailureAgreement {
 public:
  FailureAgreement(int32_t globalRank, AbortToken& abort)
      : globalRank_(globalRank), abort_(abort) {}

  // The job's verdict when there is one (waited for once per set, at most one second), else
  // `local`.
  Status agree(Status local);
  // The verdict on a control message from global rank `sender` that failed its checksum;
  // `what` names the message ("cache votes", "request list").
  Status corruptMessage(int32_t sender, const char* what);

 private:
  // A rank that severed its own connections publishes itself as the failed one (once).
  void publishSevered();

  const int32_t globalRank_;
  AbortToken& abort_;    // the job's verdict (the set's communicator's token)
  bool waited_ = false;     // agree() already waited for kolorun's verdict
  bool published_ = false;  // publishSevered() already published
};

}  // namespace kolo::core
