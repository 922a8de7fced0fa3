#include "transport/shm/shm_transport.h"

#include <algorithm>
#include <cstring>

#include "kolo/collectives/phase_clock.h"
#include "transport/shm/peer_process.h"

namespace kolo::shm {
namespace {

// Positions are published every piece so the other end works on the ring concurrently
// instead of waiting for a whole ring's worth.
constexpr size_t kPieceBytes = 64 << 10;

}  // namespace

ShmRequest::~ShmRequest() {
  if (!done_) cancel();
}

bool ShmRequest::test() {
  if (!done_) channel_->transport().progressAll();
  return done_;
}

std::string ShmRequest::describe() const {
  return isSend_
             ? fmt::format("send of {} B to rank {} (tag {:#x})", bytes_, channel_->peer(), tag_)
             : fmt::format("recv of {} B from rank {} (tag {:#x})", bytes_, channel_->peer(), tag_);
}

void ShmRequest::cancel() {
  if (done_) return;
  channel_->cancel(this);
  finish(makeStatus(Code::kAborted, "{} was cancelled", describe()));
}

ShmChannel::ShmChannel(ShmTransport* transport, int rank, int peer, ByteRing out, ByteRing in,
                       Doorbell peerBell)
    : transport_(transport), rank_(rank), peer_(peer), out_(out), in_(in), peerBell_(peerBell) {}

TransferRequestPtr ShmChannel::postSend(uint64_t tag, std::span<const std::byte> data) {
  ScopedPhase phase(Phase::kTransfer);  // moves what fits the ring at once
  // The transport only reads a send's buffer; the request type is shared with receives.
  auto req = std::make_unique<ShmRequest>(this, true, tag, const_cast<std::byte*>(data.data()),
                                          data.size());
  if (!broken_.isOk()) {
    req->finish(broken_);
    return req;
  }
  sendQueue_.push_back(req.get());
  progressSend();
  return req;
}

Channel::SameHostPeer ShmChannel::sameHostPeer() const {
  return {transport_->peerPid(peer_), transport_->pullMinBytes()};
}

int32_t ShmTransport::peerPid(int peer) const {
  return segment_->control(peer).pid.load(std::memory_order_acquire);
}

TransferRequestPtr ShmChannel::postRecv(uint64_t tag, std::span<std::byte> data) {
  ScopedPhase phase(Phase::kTransfer);
  auto req = std::make_unique<ShmRequest>(this, false, tag, data.data(), data.size());
  if (!broken_.isOk()) {
    req->finish(broken_);
    return req;
  }
  if (auto bytes = matcher_.post(tag, req.get())) {
    deliverUnexpected(req.get(), std::move(*bytes));
    return req;
  }
  progressRecv();
  return req;
}

void ShmChannel::progress() {
  progressSend();
  progressRecv();
}

Status ShmChannel::mismatch(const ShmRequest& recv, size_t messageBytes) const {
  return makeStatus(Code::kMismatch,
                    "rank {}: recv from rank {} (tag {:#x}): rank {} sent {} B but the receive "
                    "buffer holds {} B",
                    rank_, peer_, recv.tag_, peer_, messageBytes, recv.bytes_);
}

void ShmChannel::deliverUnexpected(ShmRequest* recv, std::vector<std::byte> bytes) {
  if (bytes.size() != recv->bytes_) {
    recv->finish(mismatch(*recv, bytes.size()));
    return;
  }
  if (!bytes.empty()) std::memcpy(recv->data_, bytes.data(), bytes.size());
  recv->finish(Status::ok());
}

void ShmChannel::progressSend() {
  bool wrote = false;
  while (!sendQueue_.empty()) {
    ShmRequest* req = sendQueue_.front();
    size_t space = out_.writable();
    if (!req->headerSent_) {
      if (space < sizeof(FrameHeader)) {
        if (out_.markWaitingForSpace() >= sizeof(FrameHeader)) continue;
        break;
      }
      FrameHeader h{req->tag_, req->bytes_};
      out_.write(&h, sizeof(h));
      req->headerSent_ = true;
      space -= sizeof(FrameHeader);
      wrote = true;
    }
    while (req->moved_ < req->bytes_ && space > 0) {
      size_t n = std::min({space, req->bytes_ - req->moved_, kPieceBytes});
      out_.write(req->data_ + req->moved_, n);
      req->moved_ += n;
      space -= n;
      out_.publishWrite();
      wrote = true;
      if (space == 0) space = out_.writable();
    }
    if (req->moved_ < req->bytes_) {
      // Full: ask the reader for a wake when it frees space, unless some freed meanwhile.
      if (out_.markWaitingForSpace() > 0) continue;
      break;
    }
    sendQueue_.pop_front();
    req->finish(Status::ok());
  }
  if (wrote) {
    out_.publishWrite();
    peerBell_.ring();
  }
}

void ShmChannel::progressRecv() {
  bool consumed = false;
  for (;;) {
    size_t avail = in_.readable();
    if (recvState_ == RecvState::kHeader) {
      if (avail < sizeof(FrameHeader)) break;
      in_.read(&incoming_, sizeof(incoming_));
      avail -= sizeof(FrameHeader);
      consumed = true;
      incomingMoved_ = 0;
      incomingRecv_ = nullptr;
      incomingToUnexpected_ = false;
      if (auto posted = matcher_.match(incoming_.tag)) {
        if ((*posted)->bytes_ == incoming_.size) {
          incomingRecv_ = *posted;
        } else {
          (*posted)->finish(mismatch(**posted, incoming_.size));  // payload is discarded
        }
      } else {
        incomingToUnexpected_ = true;
        incomingUnexpected_.assign(incoming_.size, std::byte{0});
      }
      recvState_ = RecvState::kPayload;
    }
    while (incomingMoved_ < incoming_.size && avail > 0) {
      size_t n = std::min({avail, size_t(incoming_.size - incomingMoved_), kPieceBytes});
      std::byte* dst = nullptr;
      if (incomingRecv_ != nullptr) dst = incomingRecv_->data_ + incomingMoved_;
      if (incomingToUnexpected_) dst = incomingUnexpected_.data() + incomingMoved_;
      in_.read(dst, n);
      incomingMoved_ += n;
      avail -= n;
      in_.publishRead();
      consumed = true;
      if (avail == 0) avail = in_.readable();
    }
    if (incomingMoved_ < incoming_.size) break;
    finishIncoming();
  }
  // The sender needs a wake only when it waits for the space this read freed.
  if (consumed && in_.publishReadAndCheckWriter()) peerBell_.ring();
}

void ShmChannel::finishIncoming() {
  recvState_ = RecvState::kHeader;
  if (incomingRecv_ != nullptr) {
    incomingRecv_->finish(Status::ok());
    incomingRecv_ = nullptr;
    return;
  }
  if (!incomingToUnexpected_) return;
  incomingToUnexpected_ = false;
  // A receive for this tag may have been posted while the frame was streaming in.
  if (auto posted = matcher_.match(incoming_.tag)) {
    deliverUnexpected(*posted, std::move(incomingUnexpected_));
  } else {
    matcher_.storeUnexpected(incoming_.tag, std::move(incomingUnexpected_));
  }
  incomingUnexpected_ = {};
}

void ShmChannel::breakChannel(Status status) {
  broken_ = status;
  for (ShmRequest* req : sendQueue_) {
    if (!req->done_) req->finish(status);
  }
  sendQueue_.clear();
}

void ShmChannel::cancel(ShmRequest* request) {
  if (request->isSend_) {
    auto it = std::find(sendQueue_.begin(), sendQueue_.end(), request);
    if (it == sendQueue_.end()) return;
    if (request->headerSent_) {
      // Half a frame is in the ring; the peer would read the next frame as its payload.
      sendQueue_.erase(it);
      breakChannel(makeStatus(Code::kIoError,
                              "rank {}: channel to rank {} is unusable: a {} was cancelled after "
                              "{} of its bytes were sent",
                              rank_, peer_, request->describe(), request->moved_));
      return;
    }
    sendQueue_.erase(it);
    return;
  }
  if (incomingRecv_ == request) {
    incomingRecv_ = nullptr;  // the rest of the frame is drained and dropped
    return;
  }
  matcher_.removePosted(request->tag_, [request](ShmRequest* r) { return r == request; });
}

int ShmTransport::lostPeer() const {
  for (int q = 0; q < size_; ++q) {
    if (q != rank_ && processGone(segment_->control(q).pid.load(std::memory_order_acquire))) {
      return q;
    }
  }
  return -1;
}

ShmTransport::ShmTransport(std::shared_ptr<ShmSegment> segment, int rank, int size,
                           uint64_t pullMinBytes)
    : segment_(std::move(segment)),
      rank_(rank),
      size_(size),
      ownBell_(&segment_->control(rank).transportBell, true),
      pullMinBytes_(pullMinBytes) {
  const SegmentLayout& layout = segment_->layout();
  const size_t capacity = layout.params().ringBytes;
  channels_.resize(size_t(size));
  for (int peer = 0; peer < size; ++peer) {
    if (peer == rank) continue;
    ByteRing out(segment_->at<RingHeader>(layout.ringOffset(rank, peer)),
                 segment_->at<std::byte>(layout.ringDataOffset(rank, peer)), capacity);
    ByteRing in(segment_->at<RingHeader>(layout.ringOffset(peer, rank)),
                segment_->at<std::byte>(layout.ringDataOffset(peer, rank)), capacity);
    channels_[size_t(peer)] = std::make_unique<ShmChannel>(
        this, rank, peer, out, in, Doorbell(&segment_->control(peer).transportBell, true));
  }
}

void ShmTransport::progressAll() {
  for (auto& channel : channels_) {
    if (channel) channel->progress();
  }
}

}  // namespace kolo::shm
