#include "kolo/rendezvous/memory_store.h"

#include <fmt/format.h>

namespace kolo {

Status MemoryStore::set(const std::string& key, std::string_view value) {
  {
    std::lock_guard lock(mutex_);
    values_[key] = std::string(value);
  }
  changed_.notify_all();
  return Status::ok();
}

Expected<std::string> MemoryStore::get(const std::string& key, Deadline deadline) {
  std::unique_lock lock(mutex_);
  auto found = [&] { return values_.count(key) > 0; };
  if (deadline.isNever()) {
    changed_.wait(lock, found);
  } else if (!changed_.wait_until(lock, deadline.at(), found)) {
    return makeStatus(Code::kTimeout, "memory store: key '{}' was not set before the deadline",
                      key);
  }
  return values_[key];
}

Expected<int64_t> MemoryStore::add(const std::string& key, int64_t delta) {
  int64_t result = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = values_.find(key);
    int64_t current = it == values_.end() ? 0 : std::stoll(it->second);
    result = current + delta;
    values_[key] = std::to_string(result);
  }
  changed_.notify_all();
  return result;
}

}  // namespace kolo
