// TagMatcher: matches incoming messages from one peer to posted receives by tag.
// Plain class without I/O or locking (the owner serializes calls), so the matching rules are
// unit-tested without sockets. Rules: receives with the same tag match in posting order;
// a message that arrives before its receive is kept whole as "unexpected" until one is posted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <vector>

namespace kolo {

template <typename PostedRecv>
class TagMatcher {
 public:
  // A receive was posted. If a message with this tag already arrived, returns its bytes
  // (the caller completes the receive at once); otherwise the receive is queued.
  std::optional<std::vector<std::byte>> post(uint64_t tag, PostedRecv recv) {
    auto it = unexpected_.find(tag);
    if (it != unexpected_.end() && !it->second.empty()) {
      std::vector<std::byte> bytes = std::move(it->second.front());
      it->second.pop_front();
      if (it->second.empty()) unexpected_.erase(it);
      return bytes;
    }
    posted_[tag].push_back(std::move(recv));
    return std::nullopt;
  }

  // A message header arrived: the receive it belongs to, if one is posted (removed from the
  // queue), else nullopt and the caller stores the payload with storeUnexpected().
  std::optional<PostedRecv> match(uint64_t tag) {
    auto it = posted_.find(tag);
    if (it == posted_.end() || it->second.empty()) return std::nullopt;
    PostedRecv recv = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) posted_.erase(it);
    return recv;
  }

  void storeUnexpected(uint64_t tag, std::vector<std::byte> bytes) {
    unexpected_[tag].push_back(std::move(bytes));
  }

  // Removes a posted receive (cancel). Returns false if it was already matched.
  template <typename Pred>
  bool removePosted(uint64_t tag, Pred&& isIt) {
    auto it = posted_.find(tag);
    if (it == posted_.end()) return false;
    for (auto r = it->second.begin(); r != it->second.end(); ++r) {
      if (isIt(*r)) {
        it->second.erase(r);
        if (it->second.empty()) posted_.erase(it);
        return true;
      }
    }
    return false;
  }

  size_t postedCount() const {
    size_t n = 0;
    for (const auto& [tag, q] : posted_) n += q.size();
    return n;
  }
  size_t unexpectedCount() const {
    size_t n = 0;
    for (const auto& [tag, q] : unexpected_) n += q.size();
    return n;
  }

 private:
  std::map<uint64_t, std::deque<PostedRecv>> posted_;
  std::map<uint64_t, std::deque<std::vector<std::byte>>> unexpected_;
};

}  // namespace kolo
