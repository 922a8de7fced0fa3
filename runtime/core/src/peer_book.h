// PeerBook: what a process set's point-to-point transfers share across threads: how many
// transfers of each (direction, peer, tag) are still pending (a transfer may take the fast
// path, its first steps on the caller's thread, only when none is), and the shape each
// receiver last accepted from an eager send per (peer, tag) (a later eager send of that shape
// then completes without waiting for a reply; PeerTransfer::agree).
// Thread: any; one mutex, held only for a map lookup.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>

#include "kolo/collectives/dtype.h"

namespace kolo::core {

class PeerBook {
 public:
  using Key = std::tuple<bool, int, int32_t>;  // (is send, peer, tag)
  using Shape = std::pair<DataType, int64_t>;  // (dtype, count)

  // Counts one more pending transfer of `key`; returns whether there was none before.
  bool claim(const Key& key) {
    std::lock_guard lock(mutex_);
    return ++pending_[key] == 1;
  }
  void release(const Key& key) {
    std::lock_guard lock(mutex_);
    const auto it = pending_.find(key);
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
  mutable std::mutex mutex_;
  std::map<Key, int> pending_;
  std::map<std::pair<int, int32_t>, Shape> agreed_;
};

}  // namespace kolo::core
