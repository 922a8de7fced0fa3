#include "transport/loopback/loopback_transport.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>

#include "kolo/base/deadline.h"
#include "kolo/collectives/doorbell.h"
#include "kolo/collectives/tag_matcher.h"

namespace kolo {
namespace {

// A posted receive. `done` is published with release after `status` and the payload are
// written, so test() reads it without taking the mailbox lock.
struct RecvState {
  std::span<std::byte> buffer;
  uint64_t tag = 0;
  int peer = 0;
  std::atomic<bool> done{false};
  Status status;
};
using RecvPtr = std::shared_ptr<RecvState>;

struct DelayedMessage {
  Clock::time_point at;
  int from = 0;
  uint64_t tag = 0;
  std::vector<std::byte> bytes;
};

struct Mailbox {
  explicit Mailbox(int n) : fromPeer(n) {}
  std::mutex mu;
  std::vector<TagMatcher<RecvPtr>> fromPeer;  // guarded by mu
  std::deque<DelayedMessage> delayed;         // guarded by mu, ordered by `at`
  std::atomic<size_t> delayedCount{0};
  LocalDoorbell bell;
};

struct World {
  int size = 0;
  std::vector<std::unique_ptr<Mailbox>> boxes;
  std::shared_ptr<FaultPlan> faults;

  // The peer-death message as seen from rank `self` about request peer `peer`; empty if both
  // are alive.
  std::string deathMessage(int self, int peer) const {
    if (!faults || !faults->active()) return {};
    if (faults->isDead(self)) return fmt::format("rank {} is dead", self);
    if (faults->isDead(peer)) return fmt::format("connection to rank {} lost", peer);
    return {};
  }
};

void completeRecv(RecvState& recv, Status status) {
  recv.status = std::move(status);
  recv.done.store(true, std::memory_order_release);
}

// Delivers one message into mailbox `box` of rank `to`. Caller holds box.mu.
void deliverLocked(Mailbox& box, int to, int from, uint64_t tag, std::span<const std::byte> bytes,
                   std::vector<std::byte>* owned) {
  auto recv = box.fromPeer[from].match(tag);
  if (!recv) {
    box.fromPeer[from].storeUnexpected(
        tag, owned ? std::move(*owned) : std::vector<std::byte>(bytes.begin(), bytes.end()));
    return;
  }
  RecvState& r = **recv;
  if (r.buffer.size() != bytes.size()) {
    completeRecv(r, makeStatus(Code::kMismatch,
                               "rank {}: recv from rank {} (tag {:#x}) expected {} B but the "
                               "message has {} B",
                               to, from, tag, r.buffer.size(), bytes.size()));
    return;
  }
  if (!bytes.empty()) std::memcpy(r.buffer.data(), bytes.data(), bytes.size());
  completeRecv(r, Status::ok());
}

// Moves delayed messages whose time has come into their receives. Returns true if any moved.
bool flushDue(Mailbox& box, int to) {
  if (box.delayedCount.load(std::memory_order_acquire) == 0) return false;
  bool moved = false;
  {
    std::lock_guard lock(box.mu);
    auto now = Clock::now();
    while (!box.delayed.empty() && box.delayed.front().at <= now) {
      DelayedMessage m = std::move(box.delayed.front());
      box.delayed.pop_front();
      deliverLocked(box, to, m.from, m.tag, m.bytes, &m.bytes);
      moved = true;
    }
    box.delayedCount.store(box.delayed.size(), std::memory_order_release);
  }
  if (moved) box.bell.bell().ring();
  return moved;
}

class LoopbackSend final : public TransferRequest {
 public:
  LoopbackSend(Status status, std::string what)
      : status_(std::move(status)), what_(std::move(what)) {}
  bool test() override { return true; }
  Status status() const override { return status_; }
  std::string describe() const override { return what_; }
  void cancel() override {}

 private:
  Status status_;
  std::string what_;
};

class LoopbackRecv final : public TransferRequest {
 public:
  LoopbackRecv(std::shared_ptr<World> world, int self, RecvPtr state)
      : world_(std::move(world)), self_(self), state_(std::move(state)) {}
  ~LoopbackRecv() override {
    // A request dropped unfinished must not leave its buffer in the matcher.
    if (!state_->done.load(std::memory_order_acquire)) cancel();
  }

  bool test() override {
    if (state_->done.load(std::memory_order_acquire)) return true;
    flushDue(*world_->boxes[self_], self_);
    if (state_->done.load(std::memory_order_acquire)) return true;
    std::string death = world_->deathMessage(self_, state_->peer);
    if (!death.empty()) {
      finishUnmatched(makeStatus(Code::kIoError, "{} ({})", death, describe()));
    }
    return state_->done.load(std::memory_order_acquire);
  }
  Status status() const override { return state_->status; }
  std::string describe() const override {
    return fmt::format("recv of {} B from rank {} (tag {:#x})", state_->buffer.size(), state_->peer,
                       state_->tag);
  }
  void cancel() override {
    finishUnmatched(makeStatus(Code::kAborted, "cancelled: {}", describe()));
  }

 private:
  // Completes the receive with `status` unless a message matched it first.
  void finishUnmatched(Status status) {
    Mailbox& box = *world_->boxes[self_];
    std::lock_guard lock(box.mu);
    if (state_->done.load(std::memory_order_acquire)) return;
    box.fromPeer[state_->peer].removePosted(state_->tag,
                                            [&](const RecvPtr& r) { return r == state_; });
    completeRecv(*state_, std::move(status));
  }

  std::shared_ptr<World> world_;
  int self_;
  RecvPtr state_;
};

class LoopbackChannel final : public Channel {
 public:
  LoopbackChannel(std::shared_ptr<World> world, int self, int peer)
      : world_(std::move(world)), self_(self), peer_(peer) {}
  int peer() const override { return peer_; }
  // Every rank is a thread of this process: its memory is this process's, and any rendezvous
  // message may be read from it.
  SameHostPeer sameHostPeer() const override { return {static_cast<int32_t>(::getpid()), 0}; }

  TransferRequestPtr postSend(uint64_t tag, std::span<const std::byte> data) override {
    std::string what = fmt::format("send of {} B to rank {} (tag {:#x})", data.size(), peer_, tag);
    std::string death = world_->deathMessage(self_, peer_);
    if (!death.empty()) {
      return std::make_unique<LoopbackSend>(makeStatus(Code::kIoError, "{} ({})", death, what),
                                            std::move(what));
    }
    Mailbox& box = *world_->boxes[peer_];
    FaultPlan* faults = world_->faults.get();
    bool faulty = faults && faults->active();
    if (faulty && faults->dropsMessage(self_, peer_)) {
      return std::make_unique<LoopbackSend>(Status::ok(), std::move(what));
    }
    auto delay = faulty ? faults->delay() : std::chrono::milliseconds(0);
    {
      std::lock_guard lock(box.mu);
      if (delay.count() > 0 || !box.delayed.empty()) {
        // Keep per-receiver order: a message never overtakes an earlier delayed one.
        auto at = Clock::now() + delay;
        if (!box.delayed.empty()) at = std::max(at, box.delayed.back().at);
        box.delayed.push_back({at, self_, tag, std::vector<std::byte>(data.begin(), data.end())});
        box.delayedCount.store(box.delayed.size(), std::memory_order_release);
      } else {
        deliverLocked(box, peer_, self_, tag, data, nullptr);
      }
    }
    box.bell.bell().ring();
    return std::make_unique<LoopbackSend>(Status::ok(), std::move(what));
  }

  TransferRequestPtr postRecv(uint64_t tag, std::span<std::byte> data) override {
    auto state = std::make_shared<RecvState>();
    state->buffer = data;
    state->tag = tag;
    state->peer = peer_;
    auto request = std::make_unique<LoopbackRecv>(world_, self_, state);
    std::string death = world_->deathMessage(self_, peer_);
    if (!death.empty()) {
      completeRecv(*state, makeStatus(Code::kIoError, "{} ({})", death, request->describe()));
      return request;
    }
    Mailbox& box = *world_->boxes[self_];
    std::lock_guard lock(box.mu);
    auto arrived = box.fromPeer[peer_].post(tag, state);
    if (arrived) {
      if (arrived->size() != data.size()) {
        completeRecv(*state, makeStatus(Code::kMismatch,
                                        "rank {}: recv from rank {} (tag {:#x}) expected {} B "
                                        "but the message has {} B",
                                        self_, peer_, tag, data.size(), arrived->size()));
      } else {
        if (!data.empty()) std::memcpy(data.data(), arrived->data(), data.size());
        completeRecv(*state, Status::ok());
      }
    }
    return request;
  }

 private:
  std::shared_ptr<World> world_;
  int self_;
  int peer_;
};

class LoopbackTransport final : public Transport {
 public:
  LoopbackTransport(std::shared_ptr<World> world, int rank)
      : world_(std::move(world)), rank_(rank) {
    channels_.resize(world_->size);
    for (int p = 0; p < world_->size; ++p) {
      if (p != rank_) channels_[p] = std::make_unique<LoopbackChannel>(world_, rank_, p);
    }
  }
  int rank() const override { return rank_; }
  int size() const override { return world_->size; }
  const char* name() const override { return "loopback"; }
  Channel& channel(int peer) override { return *channels_[peer]; }

  uint32_t activityEpoch() const override { return world_->boxes[rank_]->bell.bell().epoch(); }
  void waitForActivity(uint32_t seenEpoch, std::chrono::microseconds timeout) override {
    Mailbox& box = *world_->boxes[rank_];
    if (flushDue(box, rank_)) return;
    if (box.delayedCount.load(std::memory_order_acquire) != 0) {
      // Sleep no longer than until the next delayed message is due.
      std::lock_guard lock(box.mu);
      if (!box.delayed.empty()) {
        auto due = std::chrono::duration_cast<std::chrono::microseconds>(box.delayed.front().at -
                                                                         Clock::now());
        timeout = std::min(timeout, std::max(due, std::chrono::microseconds(1)));
      }
    }
    box.bell.bell().wait(seenEpoch, timeout);
  }
  bool wake() override {
    world_->boxes[rank_]->bell.bell().ring();
    return true;
  }

 private:
  std::shared_ptr<World> world_;
  int rank_;
  std::vector<std::unique_ptr<LoopbackChannel>> channels_;
};

}  // namespace

std::vector<std::shared_ptr<Transport>> makeLoopbackWorld(int n,
                                                          std::shared_ptr<FaultPlan> faults) {
  auto world = std::make_shared<World>();
  world->size = n;
  world->faults = std::move(faults);
  for (int r = 0; r < n; ++r) world->boxes.push_back(std::make_unique<Mailbox>(n));
  if (world->faults) {
    std::weak_ptr<World> weak = world;
    world->faults->addWakeHook([weak] {
      if (auto w = weak.lock()) {
        for (auto& box : w->boxes) box->bell.bell().ring();
      }
    });
  }
  std::vector<std::shared_ptr<Transport>> transports;
  for (int r = 0; r < n; ++r) transports.push_back(std::make_shared<LoopbackTransport>(world, r));
  return transports;
}

}  // namespace kolo
