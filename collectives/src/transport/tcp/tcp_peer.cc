#include "transport/tcp/tcp_peer.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "kolo/base/logging.h"

namespace kolo::tcp {
namespace {

// Payloads at least this large are read straight into their destination; smaller ones arrive
// through the staging buffer, several frames per recv() call.
constexpr uint64_t kDirectReadMin = TcpPeer::kHoldMinBytes;
// Upper bound on one recv() into a user buffer while the mutex is held, so cancel() never
// waits long.
constexpr size_t kMaxPiece = size_t{4} << 20;
constexpr size_t kStagingSize = size_t{256} << 10;

// Room for `n` more bytes at `offset` of an unexpected message's buffer announced as `limit`
// bytes. The buffer grows (geometrically, never past `limit`) only as the payload arrives, so a
// header alone cannot make this rank allocate what it announces, and each byte is zeroed once.
std::byte* unexpectedSpace(std::vector<std::byte>& buffer, uint64_t offset, size_t n,
                           uint64_t limit) {
  const uint64_t need = offset + n;
  if (need > buffer.size()) {
    buffer.resize(
        static_cast<size_t>(std::min(limit, std::max<uint64_t>(need, 2 * buffer.size()))));
  }
  return buffer.data() + offset;
}

class TcpRequest final : public TransferRequest {
 public:
  TcpRequest(std::shared_ptr<TcpPeer> peer, std::shared_ptr<TcpOp> op)
      : peer_(std::move(peer)), op_(std::move(op)) {}
  // Only an atomic load: waitAll spins on it, and polling the socket here instead would turn
  // that short spin into a syscall loop that steals the core the sender needs on small hosts.
  bool test() override { return op_->done.load(std::memory_order_acquire); }
  Status status() const override { return op_->status; }
  std::string describe() const override { return peer_->describe(*op_); }
  void cancel() override { peer_->cancel(*op_); }

 private:
  std::shared_ptr<TcpPeer> peer_;
  std::shared_ptr<TcpOp> op_;
};

}  // namespace

TcpPeer::TcpPeer(int selfRank, int peerRank, std::string endpoint, int fd,
                 std::shared_ptr<LocalDoorbell> bell, std::function<void()> wantWrite,
                 std::function<void()> wantRead, bool checksum,
                 std::function<void(const std::string&)> onCorruptStream, int peerWorldRank)
    : selfRank_(selfRank),
      peerRank_(peerRank),
      shownRank_(peerWorldRank >= 0 ? peerWorldRank : peerRank),
      endpoint_(std::move(endpoint)),
      checksum_(checksum),
      onCorruptStream_(std::move(onCorruptStream)),
      bell_(std::move(bell)),
      wantWrite_(std::move(wantWrite)),
      wantRead_(std::move(wantRead)),
      fd_(fd),
      decoder_(
          fmt::format("rank {} ({})", peerWorldRank >= 0 ? peerWorldRank : peerRank, endpoint_),
          checksum),
      staging_(kStagingSize) {}

TcpPeer::~TcpPeer() = default;

std::string TcpPeer::describe(const TcpOp& op) const {
  size_t bytes = op.isSend ? op.sendPayload.size() : op.recvBuffer.size();
  return fmt::format("{} of {} B {} rank {} (tag 0x{:x})", op.isSend ? "send" : "recv", bytes,
                     op.isSend ? "to" : "from", shownRank_, op.tag);
}

Status TcpPeer::mismatchStatus(uint64_t tag, size_t posted, size_t arrived) const {
  return makeStatus(Code::kMismatch,
                    "recv from rank {} (tag 0x{:x}): expected {} B but the message has {} B",
                    shownRank_, tag, posted, arrived);
}

Status TcpPeer::lostStatus(const std::string& reason) const {
  return makeStatus(Code::kIoError, "connection to rank {} ({}) lost: {}", shownRank_, endpoint_,
                    reason);
}

PeerTraffic TcpPeer::traffic() const {
  std::lock_guard lock(mutex_);
  PeerTraffic t;
  t.bytesSent = sendMeter_.bytes();
  t.sends = sendMeter_.count();
  t.sendBusyNanos = sendMeter_.busyNanos();
  t.bytesReceived = recvMeter_.bytes();
  t.recvs = recvMeter_.count();
  t.recvBusyNanos = recvMeter_.busyNanos();
  return t;
}

void TcpPeer::completeLocked(TcpOp& op, Status status) {
  if (op.done.load(std::memory_order_relaxed)) return;
  const auto now = TrafficMeter::Clock::now();
  if (op.isSend) {
    sendMeter_.end(now, op.sendPayload.size(), status.isOk());
  } else {
    recvMeter_.end(now, op.recvBuffer.size(), status.isOk());
  }
  op.status = std::move(status);
  op.done.store(true, std::memory_order_release);
  pending_.erase(&op);
  bell_->bell().ring();
}

TransferRequestPtr TcpPeer::postSend(uint64_t tag, std::span<const std::byte> data) {
  auto op = std::make_shared<TcpOp>();
  op->isSend = true;
  op->tag = tag;
  op->sendPayload = data;
  op->header = FrameEncoder::encodeHeader(tag, data.size());
  std::lock_guard lock(mutex_);
  if (!dead_.isOk()) {
    op->status = dead_;
    op->done.store(true, std::memory_order_release);
    return std::make_unique<TcpRequest>(shared_from_this(), std::move(op));
  }
  sendMeter_.begin(TrafficMeter::Clock::now());
  pending_.emplace(op.get(), op);
  sendQueue_.push_back(op);
  // Queue was idle: write from here, which finishes small sends before postSend returns.
  if (batches_ == 0) writeFromCallerLocked();
  return std::make_unique<TcpRequest>(shared_from_this(), std::move(op));
}

TransferRequestPtr TcpPeer::postRecv(uint64_t tag, std::span<std::byte> data) {
  auto op = std::make_shared<TcpOp>();
  op->tag = tag;
  op->recvBuffer = data;
  std::unique_lock lock(mutex_);
  recvMeter_.begin(TrafficMeter::Clock::now());
  pending_.emplace(op.get(), op);
  auto arrived = matcher_.post(tag, op);
  if (arrived) {
    if (arrived->size() != data.size()) {
      completeLocked(*op, mismatchStatus(tag, data.size(), arrived->size()));
    } else {
      if (!data.empty()) std::memcpy(data.data(), arrived->data(), data.size());
      completeLocked(*op, Status::ok());
    }
  } else if (!dead_.isOk()) {
    matcher_.removePosted(tag, [&](const std::shared_ptr<TcpOp>& p) { return p == op; });
    completeLocked(*op, dead_);
  } else if (held_.active) {
    releaseHeldLocked();
  }
  auto request = std::make_unique<TcpRequest>(shared_from_this(), std::move(op));
  reportCorruptStream(lock);
  return request;
}

void TcpPeer::cancel(TcpOp& op) {
  std::lock_guard lock(mutex_);
  if (op.done.load(std::memory_order_relaxed)) return;
  Status cancelled = makeStatus(Code::kAborted, "{} cancelled", describe(op));
  if (op.isSend) {
    auto it = std::find_if(sendQueue_.begin(), sendQueue_.end(),
                           [&](const auto& p) { return p.get() == &op; });
    if (it != sendQueue_.end() && op.transferred > 0) {
      // Half on the wire: the frame must still be finished or the stream desyncs, so the rest
      // goes from a private copy and the caller's buffer is free.
      if (op.sendPayload.data() != op.sendCopy.data()) {
        op.sendCopy.assign(op.sendPayload.begin(), op.sendPayload.end());
        op.sendPayload = op.sendCopy;
      }
      completeLocked(op, std::move(cancelled));  // the queue keeps it alive until written
      return;
    }
    if (it != sendQueue_.end()) sendQueue_.erase(it);
  } else {
    matcher_.removePosted(op.tag, [&](const std::shared_ptr<TcpOp>& p) { return p.get() == &op; });
    // If its payload is being read, the rest of the frame is discarded.
    if (incoming_.op.get() == &op) incoming_.op.reset();
  }
  completeLocked(op, std::move(cancelled));
}

void TcpPeer::reportCorruptStream(std::unique_lock<std::mutex>& lock) {
  std::string corrupt = std::exchange(corruptStream_, {});
  lock.unlock();
  if (!corrupt.empty() && onCorruptStream_) onCorruptStream_(corrupt);
}

size_t TcpPeer::pollSmall(bool large) {
  std::unique_lock lock(mutex_);
  if (!large && decoder_.payloadRemaining() >= kDirectReadMin) return 0;
  const ssize_t n = readOnceLocked();
  if (n == kReadClosed) {
    reportCorruptStream(lock);
    return 0;
  }
  return n > 0 ? static_cast<size_t>(n) : 0;
}

bool TcpPeer::receivingPayload() const {
  std::lock_guard lock(mutex_);
  return incoming_.op != nullptr && (decoder_.payloadRemaining() > 0 || decoder_.inTrailer());
}

bool TcpPeer::readWatchable() const {
  std::lock_guard lock(mutex_);
  return fd_ >= 0 && !held_.active;
}

TcpPeer::ReadResult TcpPeer::readAvailable(size_t budget) {
  size_t total = 0;
  while (total < budget) {
    // One piece per lock, so a cancel() waits for at most one bounded recv.
    std::unique_lock lock(mutex_);
    ssize_t n = readOnceLocked();
    if (n == kReadClosed) {
      reportCorruptStream(lock);
      return ReadResult::kClosed;
    }
    if (n == kReadWouldBlock) return ReadResult::kWouldBlock;
    if (n == kReadHeld) return ReadResult::kHeld;  // releaseHeldLocked() calls wantRead
    total += static_cast<size_t>(n);
  }
  return ReadResult::kBudgetSpent;
}

ssize_t TcpPeer::readOnceLocked() {
  for (;;) {
    if (fd_ < 0) return kReadClosed;
    if (held_.active) return kReadHeld;
    ssize_t n;
    uint64_t remaining = decoder_.payloadRemaining();
    std::byte* direct = nullptr;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(remaining, kMaxPiece));
    if (remaining >= kDirectReadMin) {
      if (incoming_.op) {
        direct = incoming_.op->recvBuffer.data() + incoming_.offset;
      } else if (incoming_.unexpected) {
        direct = unexpectedSpace(incoming_.unexpectedBytes, incoming_.offset, want,
                                 incoming_.offset + remaining);
      }
    }
    if (direct != nullptr) {
      // Zero-copy: the kernel copies the payload into its final place.
      n = ::recv(fd_, direct, want, MSG_DONTWAIT);
      if (n > 0) {
        incoming_.offset += static_cast<uint64_t>(n);
        decoder_.skipPayload(std::span<const std::byte>(direct, static_cast<size_t>(n)));
      }
    } else {
      n = ::recv(fd_, staging_.data(), staging_.size(), MSG_DONTWAIT);
      if (n > 0 && !feedStagingLocked(0, static_cast<size_t>(n))) return kReadClosed;
    }
    if (n > 0) return n;
    if (n == 0) {
      failLocked(lostStatus("the peer closed the connection"));
      return kReadClosed;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return kReadWouldBlock;
    failLocked(lostStatus(std::strerror(errno)));
    return kReadClosed;
  }
}

bool TcpPeer::feedStagingLocked(size_t from, size_t to) {
  size_t used = 0;
  Status st = decoder_.feed(std::span(staging_.data() + from, to - from), *this, &used);
  if (!st.isOk()) {
    KOLO_LOG(kError, "tcp", "rank {}: {}", selfRank_, st.message());
    corruptStream_ = st.message();
    failLocked(lostStatus(st.message()));
    return false;
  }
  if (held_.active) {
    held_.from = from + used;
    held_.to = to;
  }
  return true;
}

void TcpPeer::releaseHeldLocked() {
  const HeldFrame held = std::exchange(held_, {});
  routeFrameLocked(incoming_.tag, held.length);
  if (!feedStagingLocked(held.from, held.to) || held_.active) return;
  // Always, not only when the io thread stopped at the hold: a hold the waiter's poll entered
  // leaves the io thread waiting for readability, and the rest of the frame may have arrived
  // already, so no new edge would ever wake it.
  wantRead_();
}

void TcpPeer::onHeader(uint64_t tag, uint64_t length) {
  incoming_.tag = tag;
  incoming_.offset = 0;
  incoming_.op.reset();
  incoming_.unexpected = false;
  if (length >= kDirectReadMin && matcher_.postedCount() == 0) {
    held_.active = true;
    held_.length = length;
    return;
  }
  routeFrameLocked(tag, length);
}

void TcpPeer::routeFrameLocked(uint64_t tag, uint64_t length) {
  if (auto recv = matcher_.match(tag)) {
    TcpOp& op = **recv;
    if (op.recvBuffer.size() != length) {
      // The payload is discarded so the stream stays in sync for the next frame.
      completeLocked(op, mismatchStatus(tag, op.recvBuffer.size(), length));
      return;
    }
    incoming_.op = std::move(*recv);
    return;
  }
  incoming_.unexpected = true;
  // Sized as the payload arrives (unexpectedSpace): the header may come from a corrupt stream.
  incoming_.unexpectedBytes.clear();
}

void TcpPeer::onPayload(std::span<const std::byte> piece) {
  if (incoming_.op) {
    std::memcpy(incoming_.op->recvBuffer.data() + incoming_.offset, piece.data(), piece.size());
  } else if (incoming_.unexpected) {
    // Called before the decoder counts the piece, so the announced length is offset + remaining.
    std::memcpy(unexpectedSpace(incoming_.unexpectedBytes, incoming_.offset, piece.size(),
                                incoming_.offset + decoder_.payloadRemaining()),
                piece.data(), piece.size());
  }
  incoming_.offset += piece.size();
}

void TcpPeer::onFrameEnd() {
  if (incoming_.op) {
    std::shared_ptr<TcpOp> op = std::move(incoming_.op);
    completeLocked(*op, Status::ok());
  } else if (incoming_.unexpected) {
    incoming_.unexpected = false;
    // A receive may have been posted while this frame was arriving; it must get this message,
    // not the next one with the same tag.
    if (auto recv = matcher_.match(incoming_.tag)) {
      TcpOp& op = **recv;
      if (op.recvBuffer.size() != incoming_.unexpectedBytes.size()) {
        completeLocked(op, mismatchStatus(incoming_.tag, op.recvBuffer.size(),
                                          incoming_.unexpectedBytes.size()));
      } else {
        if (!incoming_.unexpectedBytes.empty()) {
          std::memcpy(op.recvBuffer.data(), incoming_.unexpectedBytes.data(),
                      incoming_.unexpectedBytes.size());
        }
        completeLocked(op, Status::ok());
      }
      incoming_.unexpectedBytes.clear();
    } else {
      matcher_.storeUnexpected(incoming_.tag, std::move(incoming_.unexpectedBytes));
      incoming_.unexpectedBytes = {};
    }
  }
  incoming_.op.reset();
}

void TcpPeer::fail(Status why, bool log) {
  std::lock_guard lock(mutex_);
  failLocked(std::move(why), log);
}

void TcpPeer::failLocked(Status why, bool log) {
  if (dead_.isOk()) {
    dead_ = why;
    // A peer that leaves while nothing is outstanding is how a job ends; only losing it with
    // requests in flight is worth a warning.
    if (log && !pending_.empty()) {
      KOLO_LOG(kWarning, "tcp", "rank {}: {}", selfRank_, why.message());
    } else if (log) {
      KOLO_LOG(kDebug, "tcp", "rank {}: {}", selfRank_, why.message());
    }
    if (onLost_) onLost_(dead_);
  }
  fd_ = -1;
  held_ = {};
  incoming_.op.reset();
  incoming_.unexpected = false;
  sendQueue_.clear();
  writeWaiting_ = false;
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& entry : pending) {
    // Not a structured binding: clang 14 cannot capture one in the lambda below.
    const std::shared_ptr<TcpOp>& op = entry.second;
    if (!op->isSend) {
      matcher_.removePosted(op->tag, [&](const std::shared_ptr<TcpOp>& p) { return p == op; });
    }
    completeLocked(*op, dead_);
  }
}

}  // namespace kolo::tcp
