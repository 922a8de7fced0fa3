// CompletionList: device work that was enqueued but has not finished, polled without
// blocking. The coordinator enqueues a batch (pack, collective, unpack on Kolo's stream),
// records an event and adds an entry whose ready() queries it; each coordinator turn calls
// poll(), which finishes every entry whose work is done, in order. An entry past its deadline
// runs its onTimeout (the NCCL backend aborts its communicator there, so a lost peer cannot
// hang the device or the coordinator) and fails with kTimeout; a failed ready() (a device or
// asynchronous NCCL error) fails that entry and everything queued behind it on the stream.
// Plain C++: tested without a device.
// Thread: coordinator (add, poll, failAll).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <string>

#include "kolo/base/deadline.h"
#include "kolo/base/status.h"

namespace kolo::gpu {

class CompletionList {
 public:
  struct Entry {
    std::string what;                           // names the work in errors ("allreduce 'grad.3'")
    std::function<Expected<bool>()> ready;      // never blocks
    std::function<void(const Status&)> finish;  // called exactly once
    Clock::time_point deadline = Clock::time_point::max();
    // Optional; runs once when the deadline passed, returns what it did for the error message
    // (e.g. "the NCCL communicator of rank 3 was aborted").
    std::function<std::string()> onTimeout;
  };

  void add(Entry entry);
  // Finishes what is done; returns how many entries are still pending.
  size_t poll(Clock::time_point now = Clock::now());
  // Fails every pending entry (e.g. at shutdown) without waiting for the device.
  void failAll(const Status& status);
  size_t pending() const { return entries_.size(); }

 private:
  void failFrom(size_t first, const Status& status);
  std::deque<Entry> entries_;
};

}  // namespace kolo::gpu
