#include "transport/tcp/tcp_stripes.h"

#include <fmt/format.h>

#include <optional>
#include <string>
#include <utility>

#include "kolo/collectives/phase_clock.h"

namespace kolo::tcp {
namespace {

// One striped message: done when every stripe is, or as soon as one failed (the others are
// cancelled then, so a receive whose sender sent something else cannot wait forever).
class StripedRequest final : public TransferRequest {
 public:
  StripedRequest(std::vector<TransferRequestPtr> parts, bool isSend, size_t bytes, int shownRank,
                 uint64_t tag)
      : parts_(std::move(parts)),
        isSend_(isSend),
        bytes_(bytes),
        shownRank_(shownRank),
        tag_(tag) {}

  bool test() override {
    if (finished_) return true;
    bool all = true;
    bool failed = false;
    for (const TransferRequestPtr& part : parts_) {
      if (!part->test()) {
        all = false;
      } else if (!part->status().isOk()) {
        failed = true;
      }
    }
    if (!all && !failed) return false;
    if (!all) {
      for (const TransferRequestPtr& part : parts_) {
        if (!part->test()) part->cancel();
      }
    }
    finished_ = true;
    return true;
  }

  // The first stripe's failure that is not a cancellation this request made (those follow it).
  Status status() const override {
    std::optional<Status> first;
    for (const TransferRequestPtr& part : parts_) {
      if (!part->test()) continue;
      Status st = part->status();
      if (st.isOk()) continue;
      if (st.code() != Code::kAborted) return withWhat(std::move(st));
      if (!first) first = std::move(st);
    }
    if (first) return withWhat(std::move(*first));
    for (const TransferRequestPtr& part : parts_) {
      if (!part->test()) return makeStatus(Code::kAborted, "{} still in flight", what());
    }
    return Status::ok();
  }

  std::string describe() const override {
    for (size_t i = 0; i < parts_.size(); ++i) {
      if (!parts_[i]->test()) {
        return fmt::format("{}, stripe {} waiting: {}", what(), i, parts_[i]->describe());
      }
    }
    return what();
  }

  void cancel() override {
    for (const TransferRequestPtr& part : parts_) part->cancel();
  }

 private:
  std::string what() const {
    return fmt::format("{} of {} B {} rank {} (tag 0x{:x}) striped over {} TCP streams",
                       isSend_ ? "send" : "recv", bytes_, isSend_ ? "to" : "from", shownRank_, tag_,
                       parts_.size());
  }
  // A stripe's size mismatch names stripe sizes; say which message it belongs to.
  Status withWhat(Status st) const {
    if (st.code() != Code::kMismatch) return st;
    return makeStatus(Code::kMismatch, "{}: {}", what(), st.message());
  }

  std::vector<TransferRequestPtr> parts_;
  bool isSend_;
  size_t bytes_;
  int shownRank_;
  uint64_t tag_;
  bool finished_ = false;
};

}  // namespace

StripeRange stripeOf(size_t size, int streams, int index) {
  const auto k = static_cast<unsigned __int128>(streams);
  auto at = [&](int i) {
    return static_cast<size_t>(static_cast<unsigned __int128>(size) *
                               static_cast<unsigned __int128>(i) / k);
  };
  return {at(index), at(index + 1) - at(index)};
}

StripedChannel::StripedChannel(std::vector<std::shared_ptr<TcpPeer>> lanes, size_t stripeMinBytes)
    : lanes_(std::move(lanes)), stripeMin_(stripeMinBytes) {}

template <class Bytes, class PostOne>
TransferRequestPtr StripedChannel::post(uint64_t tag, Bytes data, bool send, PostOne postOne) {
  if (!striped(data.size())) return postOne(*lanes_.front(), data);
  const int streams = static_cast<int>(lanes_.size());
  std::vector<TransferRequestPtr> parts;
  parts.reserve(lanes_.size());
  for (int i = 0; i < streams; ++i) {
    const StripeRange r = stripeOf(data.size(), streams, i);
    parts.push_back(postOne(*lanes_[static_cast<size_t>(i)], data.subspan(r.offset, r.length)));
  }
  return std::make_unique<StripedRequest>(std::move(parts), send, data.size(),
                                          lanes_.front()->shownRank(), tag);
}

// A post writes what the socket takes at once (and a receive takes what already arrived):
// transfer time for the phase clock.
TransferRequestPtr StripedChannel::postSend(uint64_t tag, std::span<const std::byte> data) {
  ScopedPhase phase(Phase::kTransfer);
  return post(tag, data, true, [tag](TcpPeer& lane, std::span<const std::byte> part) {
    return lane.postSend(tag, part);
  });
}

TransferRequestPtr StripedChannel::postRecv(uint64_t tag, std::span<std::byte> data) {
  ScopedPhase phase(Phase::kTransfer);
  return post(tag, data, false, [tag](TcpPeer& lane, std::span<std::byte> part) {
    return lane.postRecv(tag, part);
  });
}

}  // namespace kolo::tcp
