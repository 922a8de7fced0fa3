// PeerBook: what a process set's point-to-point transfers share across threads: how many
// transfers of each (direction, peer, tag) are still pending (a transfer may take the fast
// path, its first steps on the caller's thread, only when none is), and the shape each
// receiver last accepted from an eager send per (peer, tag) (a later eager send of that shape
// then completes without waiting for a reply; PeerTransfer::agree).
// Thread: any; one mutex, held only for a lookup.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "kolo/collectives/dtype.h"

namespace kolo::core {

class PeerBook {
 public:
  using Key = std::tuple<bool, int, int32_t>;  // (is send, peer, tag)
  using Shape = std::pair<DataType, int64_t>;  // (dtype, count)

  // Counts one more pending transfer of `key`; returns whether there was none before.
  bool claim(const Key& key) {
    std::lock_guard lock(mutex_);
    const auto it = findPending(key);
    if (it != pending_.end()) return ++it->second == 1;
    pending_.emplace_back(key, 1);
    return true;
  }
  void release(const Key& key) {
    std::lock_guard lock(mutex_);
    const auto it = findPending(key);
    if (it != pending_.end() && --it->second == 0) pending_.erase(it);
  }
  std::optional<Shape> agreed(int peer, int32_t tag) const {
    std::lock_guard lock(mutex_);
    const auto it = agreed_.find({peer, tag});
    if (it == agreed_.end()) return std::nullopt;
    return it->second;
  }
  // The receiver's reply to an eager send of `shape` on (peer, tag).
  void noteVerdict(int peer, int32_t tag, Shape shape, bool accepted) {
    std::lock_guard lock(mutex_);
    if (accepted) {
      agreed_[{peer, tag}] = shape;
    } else {
      agreed_.erase({peer, tag});
    }
  }

 private:
  using Pending = std::vector<std::pair<Key, int>>;
  Pending::iterator findPending(const Key& key) {
    return std::find_if(pending_.begin(), pending_.end(),
                        [&](const auto& entry) { return entry.first == key; });
  }

  mutable std::mutex mutex_;
  // The keys with transfers pending, a few at a time: a flat list, so a transfer's claim and
  // release allocate nothing once it has grown (a map allocated a node per transfer).
  Pending pending_;
  std::map<std::pair<int, int32_t>, Shape> agreed_;
};

}  // namespace kolo::core
