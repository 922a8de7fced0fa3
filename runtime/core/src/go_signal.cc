#include "go_signal.h"

#include <fmt/format.h>

#include <algorithm>

#include "kolo/base/logging.h"

namespace kolo::core {

void GoSignal::start() {
  canWake_ = comm_.transport().wake();
  recv_.resize(set_.members.size());
  for (size_t p = 0; p < set_.members.size(); ++p) {
    if (static_cast<int>(p) != comm_.rank()) postRecv(p);
  }
}

void GoSignal::wake() {
  if (canWake_) comm_.transport().wake();
}

void GoSignal::postRecv(size_t peer) {
  Slot& slot = recv_[peer];
  slot.value = 0;
  slot.request =
      comm_.peer(static_cast<int>(peer))
          .postRecv(kGoTag, {reinterpret_cast<std::byte*>(&slot.value), sizeof slot.value});
}

Status GoSignal::poll(uint64_t& target) {
  for (size_t p = 0; p < recv_.size(); ++p) {
    Slot& slot = recv_[p];
    // A receive can complete in the same call that re-posts it (the message already waited),
    // so drain each peer until its receive is pending.
    while (slot.request && slot.request->test()) {
      Status s = slot.request->status();
      if (!s.isOk()) {
        return s.withContext(
            fmt::format("process set {}: waiting for cycles of rank {}", set_.id, set_.members[p]));
      }
      target = std::max(target, slot.value);
      postRecv(p);
    }
  }
  return Status::ok();
}

void GoSignal::send(uint64_t cycle) {
  reapSends();
  for (size_t p = 0; p < set_.members.size(); ++p) {
    if (static_cast<int>(p) == comm_.rank()) continue;
    Send send{std::make_unique<uint64_t>(cycle), nullptr};
    send.request = comm_.peer(static_cast<int>(p))
                       .postSend(kGoTag, {reinterpret_cast<const std::byte*>(send.value.get()),
                                          sizeof(uint64_t)});
    sends_.push_back(std::move(send));
  }
  reapSends();
}

void GoSignal::reapSends() {
  std::erase_if(sends_, [](Send& s) {
    if (!s.request->test()) return false;
    if (!s.request->status().isOk()) {
      KOLO_LOG(kDebug, "coordinator", "{}", s.request->status().toString());
    }
    return true;
  });
}

void GoSignal::cancel() {
  for (Slot& slot : recv_) {
    if (slot.request && !slot.request->test()) slot.request->cancel();
    slot.request.reset();
  }
  reapSends();
  for (Send& s : sends_) {
    if (!s.request->test()) s.request->cancel();
  }
  sends_.clear();
}

}  // namespace kolo::core
