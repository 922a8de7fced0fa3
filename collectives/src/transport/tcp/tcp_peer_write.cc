// TcpPeer's writing half: the send queue written with sendmsg, from the posting caller, a
// polling waiter (pollWrite) or the io thread once the socket has room (flush); frames are cut
// into pieces, each checksummed just before it is written (tcp_peer.h).
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kolo/base/fault_injection.h"
#include "transport/tcp/crc32c.h"
#include "transport/tcp/tcp_peer.h"

namespace kolo::tcp {
namespace {

// Payload bytes one sendmsg() takes from a frame. A piece's checksum is taken just before it is
// written, so with pieces this size the receiver copies (and checks) the first piece while the
// sender checksums the next, instead of waiting for a whole message's checksum; the loop
// in flushLocked writes piece after piece while the socket takes them.
constexpr size_t kSendPiece = size_t{256} << 10;
constexpr int kMaxIov = 64;

}  // namespace

void TcpPeer::writeFromCallerLocked() {
  if (!writeWaiting_ && flushLocked() == FlushResult::kWouldBlock) {
    writeWaiting_ = true;
    wantWrite_();
  }
}

void TcpPeer::beginBatch() {
  std::lock_guard lock(mutex_);
  ++batches_;
}

void TcpPeer::endBatch() {
  std::lock_guard lock(mutex_);
  if (--batches_ == 0 && dead_.isOk()) writeFromCallerLocked();
}

void TcpPeer::corruptInTransit(TcpOp& op) const {
  op.sendCopy.assign(op.sendPayload.begin(), op.sendPayload.end());
  op.crc = checksum_ ? crc32c(op.sendPayload) : 0;
  op.crcThrough = op.sendCopy.size();
  op.sendCopy[op.sendCopy.size() / 2] ^= std::byte{0x5a};
  op.sendPayload = op.sendCopy;
}

bool TcpPeer::appendFrame(TcpOp& op, iovec* iov, int& count, size_t& bytes) const {
  const uint64_t size = op.sendPayload.size();
  if (op.transferred == 0 && op.crcThrough == 0 && size > 0 && faultTakeCorruptFrame()) {
    corruptInTransit(op);
  }
  uint64_t at = op.transferred;
  if (at < kFrameHeaderSize) {
    iov[count++] = {op.header.data() + at, kFrameHeaderSize - at};
    bytes += kFrameHeaderSize - at;
    at = kFrameHeaderSize;
  }
  const uint64_t payloadAt = at - kFrameHeaderSize;
  if (payloadAt < size) {
    const size_t piece = static_cast<size_t>(std::min<uint64_t>(size - payloadAt, kSendPiece));
    const uint64_t end = payloadAt + piece;
    checksumThrough(op, end);  // past what an earlier, partial write folded in
    iov[count++] = {const_cast<std::byte*>(op.sendPayload.data() + payloadAt), piece};
    bytes += piece;
    if (end < size) return false;
    at = kFrameHeaderSize + size;
  }
  op.trailer = FrameEncoder::encodeTrailer(op.crc);
  const uint64_t trailerAt = at - kFrameHeaderSize - size;
  iov[count++] = {op.trailer.data() + trailerAt, kFrameTrailerSize - trailerAt};
  bytes += kFrameTrailerSize - trailerAt;
  return true;
}

void TcpPeer::checksumAheadLocked() {
  if (sendQueue_.empty()) return;
  // The front frame's first piece went through appendFrame already (so a corrupt-in-transit
  // fault was decided); later frames' checksums start there.
  TcpOp& op = *sendQueue_.front();
  checksumThrough(op, std::min<uint64_t>(op.sendPayload.size(), op.crcThrough + kSendPiece));
}

void TcpPeer::checksumThrough(TcpOp& op, uint64_t end) const {
  if (!checksum_ || end <= op.crcThrough) return;
  op.crc = crc32cExtend(op.crc, op.sendPayload.subspan(op.crcThrough, end - op.crcThrough));
  op.crcThrough = end;
}

TcpPeer::FlushResult TcpPeer::flushLocked() {
  while (!sendQueue_.empty()) {
    if (fd_ < 0) return FlushResult::kFailed;
    iovec iov[kMaxIov];
    int count = 0;
    size_t bytes = 0;
    for (auto it = sendQueue_.begin(); it != sendQueue_.end() && count + 3 <= kMaxIov; ++it) {
      if (!appendFrame(**it, iov, count, bytes) || bytes >= kSendPiece) break;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        checksumAheadLocked();
        return FlushResult::kWouldBlock;
      }
      failLocked(lostStatus(std::strerror(errno)));
      return FlushResult::kFailed;
    }
    auto written = static_cast<uint64_t>(n);
    while (!sendQueue_.empty()) {
      TcpOp& op = *sendQueue_.front();
      uint64_t total = kFrameHeaderSize + op.sendPayload.size() + kFrameTrailerSize;
      uint64_t step = std::min(written, total - op.transferred);
      op.transferred += step;
      written -= step;
      if (op.transferred < total) break;
      std::shared_ptr<TcpOp> keep = std::move(sendQueue_.front());
      sendQueue_.pop_front();
      completeLocked(op, Status::ok());
    }
  }
  return FlushResult::kDone;
}

bool TcpPeer::flush() {
  std::lock_guard lock(mutex_);
  FlushResult result = flushLocked();
  writeWaiting_ = result == FlushResult::kWouldBlock;
  return writeWaiting_;
}

bool TcpPeer::pollWrite() {
  if (!writeWaiting_.load(std::memory_order_relaxed)) return false;  // most polls: no mutex
  std::lock_guard lock(mutex_);
  if (!writeWaiting_ || batches_ > 0 || sendQueue_.empty()) return false;
  const uint64_t before = sendQueue_.front()->transferred;
  const size_t queued = sendQueue_.size();
  flushLocked();
  const bool moved = sendQueue_.size() != queued ||
                     (!sendQueue_.empty() && sendQueue_.front()->transferred != before);
  // All written: the next send writes from its caller again; the io thread's wait for
  // writability, still armed, then finds nothing to do.
  if (sendQueue_.empty()) writeWaiting_ = false;
  return moved;
}

}  // namespace kolo::tcp
