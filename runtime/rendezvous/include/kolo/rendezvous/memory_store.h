// MemoryStore: an in-process KvStore for tests where ranks are threads.
// Thread: any.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>

#include "kolo/base/kv_store.h"

namespace kolo {

class MemoryStore final : public KvStore {
 public:
  Status set(const std::string& key, std::string_view value) override;
  Expected<std::string> get(const std::string& key, Deadline deadline) override;
  Expected<int64_t> add(const std::string& key, int64_t delta) override;
  std::string describe() const override { return "memory store"; }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::string> values_;
};

}  // namespace kolo
