#include "failure_agreement.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include <unistd.h>

#include "kolo/base/deadline.h"
#include "kolo/base/fault_injection.h"
#include "kolo/base/host_address.h"

namespace kolo::core {

Status FailureAgreement::agree(Status local) {
  // One second covers kolorun's reaction (it reaps a dead or stopped rank within milliseconds)
  // and stays inside the liveness promise: failure + 1 s. Waited once per set.
  constexpr auto kAgreement = std::chrono::seconds(1);
  // kRemoteError: a verdict this rank published itself (corrupt message); another may have won.
  const bool partialView = local.code() == Code::kIoError || local.code() == Code::kTimeout ||
                           local.code() == Code::kRemoteError;
  if (partialView && faultSevered()) {
    // This rank cut its own connections (fault injection drop_conn): it is the failed one, and
    // it says so at once, rather than leave the survivors to wait for kolorun to see it exit.
    publishSevered();
    return local;
  }
  if (!abort_.aborted() && partialView && abort_.watched() && !waited_) {
    waited_ = true;
    const Deadline deadline = Deadline::after(kAgreement);
    while (!abort_.aborted() && !deadline.expired()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // The record, without this rank's wait context, so every survivor's message is the same.
  return abort_.aborted() ? abort_.status() : local;
}

void FailureAgreement::publishSevered() {
  if (published_) return;
  published_ = true;
  PeerFailure failure;
  failure.rank = globalRank_;
  failure.host = jobHostName();
  failure.pid = static_cast<long>(::getpid());
  failure.reason = "dropped its connections (fault injection drop_conn)";
  failure.reporter = fmt::format("rank {}", globalRank_);
  abort_.publish(failure);
}

Status FailureAgreement::corruptMessage(int32_t sender, const char* what) {
  // Every member computes this same verdict; publishing it makes it the job's (kolorun's own
  // record of the first rank to exit would otherwise name whoever reported first).
  PeerFailure failure;
  failure.rank = sender;
  failure.reason = fmt::format("sent a corrupt control message ({}: bad checksum)", what);
  failure.reporter = fmt::format("rank {}", globalRank_);
  abort_.publish(failure);
  return failure.toStatus();
}

}  // namespace kolo::core
