#include "peer_transfer.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "peer_pull.h"

namespace kolo::core {
namespace {

template <typename T>
std::span<std::byte> bytesOf(T& value) {
  return {reinterpret_cast<std::byte*>(&value), sizeof value};
}
template <typename T>
std::span<const std::byte> constBytesOf(const T& value) {
  return {reinterpret_cast<const std::byte*>(&value), sizeof value};
}

std::string describeElements(int64_t count, uint32_t dtype) {
  if (dtype > static_cast<uint32_t>(DataType::kInt16)) {
    return fmt::format("{} elements of unknown dtype code {}", count, dtype);
  }
  return fmt::format("{} {}", count, dataTypeName(static_cast<DataType>(dtype)));
}

}  // namespace

PeerTransfer::PeerTransfer(bool isSend, int peer, int selfRank, int32_t tag, DataType dtype,
                           int64_t count, void* data, std::shared_ptr<OpState> state,
                           Deadline deadline, uint64_t eagerBytes)
    : isSend_(isSend),
      peer_(peer),
      self_(selfRank),
      tag_(tag),
      dtype_(dtype),
      count_(count),
      data_(data),
      state_(std::move(state)),
      deadline_(deadline),
      eagerBytes_(eagerBytes) {}

PeerTransfer::~PeerTransfer() {
  if (!done_) fail(makeStatus(Code::kAborted, "{}: abandoned", describe()));
}

std::string PeerTransfer::describe() const {
  // Without fmt: every submit names its handle with this (formatting was a tenth of a small
  // message's instructions).
  std::string out;
  out.reserve(48);
  out += isSend_ ? "send to rank " : "recv from rank ";
  std::array<char, 12> digits{};
  out.append(digits.data(), std::to_chars(digits.begin(), digits.end(), peer_).ptr);
  out += " tag ";
  out.append(digits.data(), std::to_chars(digits.begin(), digits.end(), tag_).ptr);
  return out;
}

bool PeerTransfer::enter(PeerBook& book) {
  book_ = &book;
  const bool idle = book.claim(key());
  if (idle && isSend_ && eager()) {
    const std::optional<PeerBook::Shape> shape = book.agreed(peer_, tag_);
    agreed_ = shape && *shape == PeerBook::Shape{dtype_, count_};
  }
  // Only the oldest receive of its key: a younger one's payload receive, posted early, would
  // come before an older one's in the channel's order and take its payload.
  prepost_ = idle && !isSend_ && eager() && bytes() > 0;
  return idle;
}

void PeerTransfer::leaveBook() {
  if (book_ == nullptr) return;
  book_->release(key());
  book_ = nullptr;
}

void PeerTransfer::start(Communicator& comm) {
  started_ = true;
  Channel& channel = comm.peer(peer_);
  if (agreed_) {
    header_ = PeerHeader{kPeerAgreedMagic, static_cast<uint32_t>(dtype_), count_, bytes()};
    const auto* data = static_cast<const std::byte*>(data_);
    std::span<const std::byte> payload;
    if (bytes() <= inlineCopy_.size()) {  // a few bytes: no allocation
      std::copy(data, data + bytes(), inlineCopy_.begin());
      payload = {inlineCopy_.data(), bytes()};
    } else {
      copy_.assign(data, data + bytes());
      payload = copy_;
    }
    headerRequest_ =
        channel.postSend(peerChannelTag(PeerTagKind::kHeader, tag_), constBytesOf(header_));
    if (!payload.empty()) {
      dataRequest_ = channel.postSend(peerChannelTag(PeerTagKind::kData, tag_), payload);
    }
    phase_ = Phase::kFlowing;
    // Handed to the transport: the caller's buffer is free and the send is done for it. A
    // transport failure after this point is the receiver's to see. Every frame is posted, so
    // later transfers of the key may go.
    leaveBook();
    state_->complete(Status::ok());
    return;
  }
  if (isSend_) {
    header_ = PeerHeader{kPeerHeaderMagic, static_cast<uint32_t>(dtype_), count_, bytes()};
    const Channel::SameHostPeer host = channel.sameHostPeer();
    if (!eager() && host.pid > 0 && bytes() >= host.pullMinBytes && peerPullEnabled()) {
      allowPeerPulls();
      header_.address = reinterpret_cast<uintptr_t>(data_);
    }
    replyRequest_ = channel.postRecv(peerChannelTag(PeerTagKind::kReply, tag_), bytesOf(reply_));
    headerRequest_ =
        channel.postSend(peerChannelTag(PeerTagKind::kHeader, tag_), constBytesOf(header_));
  } else {
    headerRequest_ = channel.postRecv(peerChannelTag(PeerTagKind::kHeader, tag_), bytesOf(header_));
    // An eager payload follows its header at once, usually in the same read: with its receive
    // posted already it lands in place, not in the channel's unexpected-message store (an
    // allocation and two more copies per message).
    if (prepost_) {
      dataRequest_ = channel.postRecv(peerChannelTag(PeerTagKind::kData, tag_),
                                      {static_cast<std::byte*>(data_), bytes()});
    }
  }
}

bool PeerTransfer::finished(const TransferRequestPtr& r) {
  return !r || r->test();
}

bool PeerTransfer::failedRequest(const TransferRequestPtr& r) {
  if (!r || !r->test() || r->status().isOk()) return false;
  complete(r->status().withContext(describe()));
  return true;
}

bool PeerTransfer::advance(Communicator& comm) {
  if (done_) return false;
  return isSend_ ? advanceSend(comm) : advanceRecv(comm);
}

void PeerTransfer::postPayload(Communicator& comm) {
  if (dataRequest_ || bytes() == 0) return;
  dataRequest_ = comm.peer(peer_).postSend(peerChannelTag(PeerTagKind::kData, tag_),
                                           {static_cast<const std::byte*>(data_), bytes()});
}

bool PeerTransfer::advanceSend(Communicator& comm) {
  if (failedRequest(headerRequest_) || failedRequest(replyRequest_) ||
      failedRequest(dataRequest_)) {
    return true;
  }
  if (phase_ == Phase::kMatching) {
    // Advanced only as the oldest matching transfer of its (peer, tag): payloads of one tag
    // leave in posting order.
    const bool posted = dataRequest_ != nullptr;
    if (eager()) postPayload(comm);
    if (!finished(replyRequest_)) return !posted && dataRequest_ != nullptr;
    // Rejected: the receiver drains an eager payload, so it still finishes.
    phase_ = reply_.accepted != kPeerRejected ? Phase::kFlowing : Phase::kRejecting;
    if (book_ != nullptr && eager()) {
      book_->noteVerdict(peer_, tag_, {dtype_, count_}, phase_ == Phase::kFlowing);
    }
    if (reply_.accepted == kPeerAccepted) postPayload(comm);
    return true;
  }
  if (!finished(headerRequest_) || !finished(dataRequest_)) return false;
  complete(phase_ == Phase::kRejecting ? mismatchForSender() : Status::ok());
  return true;
}

bool PeerTransfer::failedPayload() {
  if (!dataRequest_ || !dataRequest_->test() || dataRequest_->status().isOk()) return false;
  // Before the header decided, a payload receive posted early may fail as designed: the
  // message had another size (the channel discarded it), or no payload comes and it is
  // cancelled. Once rejected, those are the expected ends of it too.
  const Code code = dataRequest_->status().code();
  if (phase_ == Phase::kMatching) return false;
  if (phase_ == Phase::kRejecting && (code == Code::kMismatch || code == Code::kAborted)) {
    return false;
  }
  complete(dataRequest_->status().withContext(describe()));
  return true;
}

bool PeerTransfer::advanceRecv(Communicator& comm) {
  if (failedRequest(headerRequest_) || failedRequest(replyRequest_) || failedPayload()) {
    return true;
  }
  Channel& channel = comm.peer(peer_);
  if (phase_ == Phase::kMatching) {
    if (!finished(headerRequest_)) return false;
    const bool known = header_.magic == kPeerHeaderMagic || header_.magic == kPeerAgreedMagic;
    const bool accepted = known &&
                          header_.dtype == static_cast<uint32_t>(dtype_) &&
                          header_.count == count_ && header_.bytes == bytes();
    reply_ = PeerReply{accepted ? kPeerAccepted : kPeerRejected, static_cast<uint32_t>(dtype_),
                       count_};
    const bool eagerComing = known && header_.bytes > 0 && header_.bytes <= eagerBytes_;
    if (accepted && pullPayload(channel)) {
      reply_.accepted = kPeerPulled;
    } else if (accepted && bytes() > 0 && !dataRequest_) {
      // Posted before the reply leaves, so the payload always finds its receive.
      dataRequest_ = channel.postRecv(peerChannelTag(PeerTagKind::kData, tag_),
                                      {static_cast<std::byte*>(data_), bytes()});
    } else if (!accepted && dataRequest_ && !eagerComing) {
      // Posted early, but no payload comes (a rendezvous message waits for a reply that
      // rejects it): withdrawn before the reply, so no later message's payload can take it.
      if (!dataRequest_->test()) dataRequest_->cancel();
    } else if (!accepted && !dataRequest_ && eagerComing) {
      // The sender did not wait: take its eager payload off the channel.
      drain_.resize(header_.bytes);
      dataRequest_ = channel.postRecv(peerChannelTag(PeerTagKind::kData, tag_), drain_);
    }
    if (header_.magic != kPeerAgreedMagic) {
      replyRequest_ =
          channel.postSend(peerChannelTag(PeerTagKind::kReply, tag_), constBytesOf(reply_));
    }
    phase_ = accepted ? Phase::kFlowing : Phase::kRejecting;
    return true;
  }
  if (!finished(replyRequest_) || !finished(dataRequest_)) return false;
  complete(phase_ == Phase::kRejecting ? mismatchForReceiver() : Status::ok());
  return true;
}

bool PeerTransfer::pullPayload(const Channel& channel) {
  if (header_.address == 0 || header_.magic != kPeerHeaderMagic || eager() ||
      !peerPullEnabled()) {
    return false;
  }
  const int32_t pid = channel.sameHostPeer().pid;
  return pid > 0 &&
         pullFromPeer(pid, header_.address, {static_cast<std::byte*>(data_), bytes()});
}

Status PeerTransfer::mismatchForSender() const {
  return makeStatus(Code::kMismatch, "{}: sent {} elements, rank {} expected {} elements",
                    describe(), describeElements(count_, static_cast<uint32_t>(dtype_)), peer_,
                    describeElements(reply_.count, reply_.dtype));
}

Status PeerTransfer::mismatchForReceiver() const {
  if (header_.magic != kPeerHeaderMagic && header_.magic != kPeerAgreedMagic) {
    return makeStatus(Code::kInternal, "{}: rank {} sent a malformed header", describe(), peer_);
  }
  return makeStatus(Code::kMismatch, "{}: expected {} elements, rank {} sent {} elements",
                    describe(), describeElements(count_, static_cast<uint32_t>(dtype_)), peer_,
                    describeElements(header_.count, header_.dtype));
}

void PeerTransfer::fail(const Status& status) {
  if (done_) return;
  complete(status);
}

void PeerTransfer::complete(const Status& status) {
  // A request still posted must not touch this transfer's buffers once it is gone.
  for (TransferRequestPtr* r : {&headerRequest_, &replyRequest_, &dataRequest_}) {
    if (*r && !(*r)->test()) (*r)->cancel();
  }
  phase_ = Phase::kDone;
  done_ = true;
  leaveBook();
  state_->complete(status);
}

}  // namespace kolo::core
