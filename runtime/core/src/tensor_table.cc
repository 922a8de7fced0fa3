#include "tensor_table.h"

#include <unordered_set>

namespace kolo::core {

Status TensorTable::add(const std::vector<PendingOpPtr>& ops) {
  std::lock_guard lock(mutex_);
  if (closed_) {
    return makeStatus(Code::kAborted, "cannot submit '{}': the session is shutting down",
                      ops.empty() ? std::string() : ops.front()->request.tensorName);
  }
  // Names repeated within one submission (a group): a set only when there are several, so a
  // single op's submit allocates none.
  std::unordered_set<std::string> seen;
  for (const auto& op : ops) {
    const std::string& name = op->request.tensorName;
    if (inFlight_.count(name) != 0 || (ops.size() > 1 && !seen.insert(name).second)) {
      // kInvalidArgument, as Horovod classifies it (Python: ValueError).
      return makeStatus(
          Code::kInvalidArgument,
          "rank {}: tensor '{}' was submitted again before its previous {} "
          "completed; wait for the first handle or use another name",
          op->request.rank, name,
          opTypeName(inFlight_.count(name) ? inFlight_.at(name)->request.op : op->request.op));
    }
  }
  for (const auto& op : ops) {
    inFlight_.emplace(op->request.tensorName, op);
    incoming_.push_back(op);
  }
  hasIncoming_.store(true, std::memory_order_release);
  return Status::ok();
}

void TensorTable::takeIncoming(std::vector<PendingOpPtr>& out) {
  out.clear();
  std::lock_guard lock(mutex_);
  hasIncoming_.store(false, std::memory_order_release);
  out.swap(incoming_);  // the table keeps `out`'s capacity for the next submits
}

PendingOpPtr TensorTable::take(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = inFlight_.find(name);
  if (it == inFlight_.end()) return nullptr;
  PendingOpPtr op = std::move(it->second);
  inFlight_.erase(it);
  return op;
}

PendingOpPtr TensorTable::find(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = inFlight_.find(name);
  return it == inFlight_.end() ? nullptr : it->second;
}

size_t TensorTable::inFlight() const {
  std::lock_guard lock(mutex_);
  return inFlight_.size();
}

std::vector<PendingOpPtr> TensorTable::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<PendingOpPtr> out;
  out.reserve(inFlight_.size());
  for (const auto& [name, op] : inFlight_) out.push_back(op);
  return out;
}

std::vector<PendingOpPtr> TensorTable::takeDrawn() {
  std::lock_guard lock(mutex_);
  std::vector<PendingOpPtr> out;
  for (auto it = inFlight_.begin(); it != inFlight_.end();) {
    if (it->second->drawn) {
      out.push_back(std::move(it->second));
      it = inFlight_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<PendingOpPtr> TensorTable::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  std::vector<PendingOpPtr> out;
  out.reserve(inFlight_.size());
  for (auto& [name, op] : inFlight_) out.push_back(std::move(op));
  inFlight_.clear();
  incoming_.clear();
  hasIncoming_.store(false, std::memory_order_release);
  return out;
}

}  // namespace kolo::core
