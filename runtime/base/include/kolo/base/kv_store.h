// KvStore: the out-of-band key/value exchange ranks use to find each other.
// Implementations live in runtime/rendezvous (file, memory, authenticated TCP);
// collectives/ bootstraps its transports through this interface only.
// Thread: any; implementations are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kolo/base/deadline.h"
#include "kolo/base/status.h"

namespace kolo {

class KvStore {
 public:
  virtual ~KvStore() = default;
  virtual Status set(const std::string& key, std::string_view value) = 0;
  // Blocks until `key` exists; kTimeout naming the key when the deadline passes.
  virtual Expected<std::string> get(const std::string& key, Deadline deadline) = 0;
  // Atomically adds delta to the integer at key (missing = 0); returns the new value.
  virtual Expected<int64_t> add(const std::string& key, int64_t delta) = 0;
  // What the store is, for messages: "file store /tmp/x", "tcp store 10.0.0.1:29500".
  virtual std::string describe() const = 0;
};

}  // namespace kolo
