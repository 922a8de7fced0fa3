// TcpPeer's writing half: the send queue written with sendmsg, from the posting caller, a
// polling waiter (pollWrite) or the io thread once the socket has room (flush). A small frame's
// checksum is taken before it is written, so header, payload and trailer leave in one sendmsg; a
// large payload is written in pieces, each checksummed behind its write (tcp_peer.h).
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

// Frames batched into one sendmsg() until they add up to this many bytes.
constexpr size_t kBatchBytes = size_t{256} << 10;
// Payloads up to this size are checksummed before they are written, so the whole frame leaves
// in one sendmsg. Larger ones are checksummed behind their writes: each piece is handed to the
// kernel first and folded into the checksum after, while the peer reads it, and the trailer
// follows the last. Checksumming each piece before its write made the stream wait for every
// checksum (docs/PERFORMANCE.md).
constexpr size_t kChecksumAheadMax = size_t{256} << 10;
// A large payload goes to the kernel in pieces this size, each checksummed right after its
// write while its bytes are still in this core's cache (1 MiB: the L2 of the machines measured;
// a 4 MiB payload checksummed after one write read it back from memory, about 500 us).
constexpr size_t kBehindPiece = size_t{1} << 20;
constexpr int kMaxIov = 64;

uint64_t payloadWritten(const TcpOp& op) {
  const uint64_t past = op.transferred > kFrameHeaderSize ? op.transferred - kFrameHeaderSize : 0;
  return std::min<uint64_t>(past, op.sendPayload.size());
}

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
  const bool behind = size > kChecksumAheadMax;
  if (payloadAt < size) {
    // Behind: fold in what the last sendmsg took, before handing the kernel the rest.
    checksumThrough(op, behind ? payloadAt : size);
    const size_t piece = static_cast<size_t>(
        behind ? std::min<uint64_t>(size - payloadAt, kBehindPiece) : size - payloadAt);
    iov[count++] = {const_cast<std::byte*>(op.sendPayload.data() + payloadAt), piece};
    bytes += piece;
    if (behind) return false;  // the trailer waits for the checksum of what this writes
    at = kFrameHeaderSize + size;
  }
  checksumThrough(op, size);
  op.trailer = FrameEncoder::encodeTrailer(op.crc);
  const uint64_t trailerAt = at - kFrameHeaderSize - size;
  iov[count++] = {op.trailer.data() + trailerAt, kFrameTrailerSize - trailerAt};
  bytes += kFrameTrailerSize - trailerAt;
  return true;
}

void TcpPeer::checksumWrittenLocked() {
  if (sendQueue_.empty()) return;
  TcpOp& op = *sendQueue_.front();
  checksumThrough(op, payloadWritten(op));
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
      if (!appendFrame(**it, iov, count, bytes) || bytes >= kBatchBytes) break;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        checksumWrittenLocked();
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
