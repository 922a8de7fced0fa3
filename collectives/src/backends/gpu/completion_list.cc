#include "kolo/collectives/gpu/completion_list.h"

#include <utility>

namespace kolo::gpu {

void CompletionList::add(Entry entry) {
  entries_.push_back(std::move(entry));
}

size_t CompletionList::poll(Clock::time_point now) {
  // Entries share one stream, so the first unfinished one blocks those behind it: finishing
  // them in order keeps completions in submission order.
  while (!entries_.empty()) {
    Entry& front = entries_.front();
    Expected<bool> done = front.ready();
    if (!done.hasValue()) {
      failFrom(0, done.status().withContext(front.what));
      break;
    }
    if (done.value()) {
      Entry e = std::move(front);
      entries_.pop_front();
      e.finish(Status::ok());
      continue;
    }
    if (now >= front.deadline) {
      const std::string note = front.onTimeout ? front.onTimeout() : std::string();
      failFrom(0, makeStatus(Code::kTimeout, "{}: the device did not finish it in time{}{}",
                             front.what, note.empty() ? "" : "; ", note));
    }
    break;
  }
  return entries_.size();
}

void CompletionList::failAll(const Status& status) {
  failFrom(0, status);
}

void CompletionList::failFrom(size_t first, const Status& status) {
  std::deque<Entry> failed;
  while (entries_.size() > first) {
    failed.push_back(std::move(entries_.back()));
    entries_.pop_back();
  }
  // In submission order, so the first failure reported is the oldest op's.
  for (auto it = failed.rbegin(); it != failed.rend(); ++it) it->finish(status);
}

}  // namespace kolo::gpu
