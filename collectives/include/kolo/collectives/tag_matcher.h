// TagMatcher: matches incoming messages from one peer to posted receives by tag.
// Plain class without I/O or locking (the owner serializes calls), so the matching rules are
// unit-tested without sockets. Rules: receives with the same tag match in posting order;
// a message that arrives before its receive is kept whole as "unexpected" until one is posted.
// Posted receives are one flat list in posting order, searched from the front: a channel has a
// few posted at a time (a collective step's, the coordinator's go receive, a pipeline's
// micro-batches), and a list keeps a post and its match free of allocations, where a map of
// per-tag queues allocated a node and a queue (with its first block) for every receive.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace kolo {

template <typename PostedRecv>
class TagMatcher {
 public:
  // A receive was posted. If a message with this tag already arrived, returns its bytes
  // (the caller completes the receive at once); otherwise the receive is queued.
  std::optional<std::vector<std::byte>> post(uint64_t tag, PostedRecv recv) {
    if (!unexpected_.empty()) {
      auto it = unexpected_.find(tag);
      if (it != unexpected_.end() && !it->second.empty()) {
        std::vector<std::byte> bytes = std::move(it->second.front());
        it->second.pop_front();
        if (it->second.empty()) unexpected_.erase(it);
        return bytes;
      }
    }
    posted_.emplace_back(tag, std::move(recv));
    return std::nullopt;
  }

  // A message header arrived: the receive it belongs to, if one is posted (removed from the
  // queue), else nullopt and the caller stores the payload with storeUnexpected().
  std::optional<PostedRecv> match(uint64_t tag) {
    auto it = findPosted(tag);
    if (it == posted_.end()) return std::nullopt;
    PostedRecv recv = std::move(it->second);
    posted_.erase(it);
    return recv;
  }

  void storeUnexpected(uint64_t tag, std::vector<std::byte> bytes) {
    unexpected_[tag].push_back(std::move(bytes));
  }

  // Removes a posted receive (cancel). Returns false if it was already matched.
  template <typename Pred>
  bool removePosted(uint64_t tag, Pred&& isIt) {
    auto it = std::find_if(posted_.begin(), posted_.end(),
                           [&](auto& entry) { return entry.first == tag && isIt(entry.second); });
    if (it == posted_.end()) return false;
    posted_.erase(it);
    return true;
  }

  size_t postedCount() const { return posted_.size(); }
  size_t unexpectedCount() const {
    size_t n = 0;
    for (const auto& [tag, q] : unexpected_) n += q.size();
    return n;
  }

 private:
  using Posted = std::vector<std::pair<uint64_t, PostedRecv>>;
  typename Posted::iterator findPosted(uint64_t tag) {
    return std::find_if(posted_.begin(), posted_.end(),
                        [tag](const auto& entry) { return entry.first == tag; });
  }

  Posted posted_;  // in posting order
  std::map<uint64_t, std::deque<std::vector<std::byte>>> unexpected_;
};

}  // namespace kolo
