// TcpPeer: the state of one connection to one peer rank — the send queue, the receive side's
// frame decoder and tag matching, and the requests in flight. The caller thread posts and
// cancels; the io thread reads and writes. Both work under one mutex per peer, which is also
// what makes cancel() safe: every byte the io thread moves into or out of a user buffer moves
// under that mutex, in bounded pieces (a read at most kMaxPiece, a write what the socket buffer
// takes), after checking that the request is still live.
// The socket is used only through its non-blocking descriptor (recv/sendmsg), so a send can be
// written at once from the caller's thread when the queue is empty (no io thread round trip
// for small messages) and the asio socket object stays on the io thread.
// A large frame whose receive is not posted yet, arriving while no receive at all is posted
// from this peer, is held in the socket (the reader stops after its header) until a receive is
// posted: it then lands in place instead of in an unexpected-message buffer, and TCP's own flow
// control paces the sender. Holding only while nothing is posted from the peer cannot block a
// waiter: a rank that waits on this peer has a receive posted, and then frames are read ahead.
// The reading half is tcp_peer.cc, the writing half tcp_peer_write.cc.
// Thread: postSend/postRecv/cancel and the polls (pollSmall, pollWrite) on a caller's;
// readAvailable/flush/fail on the io thread; traffic and receivingPayload on any.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/doorbell.h"
#include "kolo/collectives/tag_matcher.h"
#include "kolo/collectives/transport.h"
#include "transport/tcp/frame_codec.h"

namespace kolo::tcp {

// One posted send or receive; shared by its TransferRequest and the peer until it finishes.
struct TcpOp {
  bool isSend = false;
  uint64_t tag = 0;
  std::span<std::byte> recvBuffer;
  std::span<const std::byte> sendPayload;
  FrameHeaderBytes header{};
  FrameTrailerBytes trailer{};  // sends: the payload's CRC32C, once crcThrough reached its end
  uint32_t crc = 0;             // sends: CRC32C of the payload's first crcThrough bytes
  uint64_t crcThrough = 0;
  uint64_t transferred = 0;         // sends: header + payload + trailer bytes written
  std::vector<std::byte> sendCopy;  // a cancelled, half-written send finishes from here
  Status status;                    // written before `done` is released
  std::atomic<bool> done{false};
};

class TcpPeer final : public std::enable_shared_from_this<TcpPeer>, private FrameSink {
 public:
  // Payloads from this size are read straight into their destination, and such a frame is held
  // in the socket while no receive from the peer is posted (see above).
  static constexpr uint64_t kHoldMinBytes = uint64_t{64} << 10;

  // `fd` is the connected, non-blocking socket (owned by the transport). `endpoint` is
  // "addr:port" for messages. `wantWrite` asks the io thread to wait until the socket is
  // writable and then call flush(); it is called with the mutex held. `checksum`: frames carry
  // and are checked against their payload's CRC32C (otherwise the trailer is sent as 0 and
  // ignored). `wantRead` asks the io thread to call readAvailable() (a held frame's receive
  // was posted); it is called with the mutex held.
  // `onCorruptStream`, when set, is called (without the mutex, on the io thread) once the
  // peer's stream failed its checksum or framing, with the decoder's error. `peerWorldRank`:
  // the peer's rank in the job, for messages, when this connection belongs to a subgroup (the
  // cross-host group numbers its members from 0); -1: peerRank is the job's.
  TcpPeer(int selfRank, int peerRank, std::string endpoint, int fd,
          std::shared_ptr<LocalDoorbell> bell, std::function<void()> wantWrite,
          std::function<void()> wantRead, bool checksum = true,
          std::function<void(const std::string&)> onCorruptStream = {}, int peerWorldRank = -1);
  ~TcpPeer() override;

  int peerRank() const { return peerRank_; }
  // The peer's number in messages: its world rank where known.
  int shownRank() const { return shownRank_; }
  const std::string& endpoint() const { return endpoint_; }
  // Called once, with the mutex held, when this connection is lost (the reason every request
  // fails with); the transport fails the pair's other streams with it. Set before use.
  void setOnLost(std::function<void(const Status&)> onLost) { onLost_ = std::move(onLost); }

  // Caller thread.
  TransferRequestPtr postSend(uint64_t tag, std::span<const std::byte> data);
  TransferRequestPtr postRecv(uint64_t tag, std::span<std::byte> data);
  void cancel(TcpOp& op);
  // Channel::beginBatch/endBatch: while a batch is open, sends are queued without writing;
  // closing the last one writes the queue (one sendmsg for what fits).
  void beginBatch();
  void endBatch();
  std::string describe(const TcpOp& op) const;
  // Payload bytes and busy time of each direction so far (any thread).
  PeerTraffic traffic() const;

  // Io thread. readAvailable reads until the socket would block or `budget` bytes were read;
  // returns kWouldBlock (wait for readability), kBudgetSpent (call again soon), kHeld (a frame
  // is held: wantRead will ask again) or kClosed.
  enum class ReadResult { kWouldBlock, kBudgetSpent, kHeld, kClosed };
  ReadResult readAvailable(size_t budget);
  // Caller thread (Transport::pollIncoming): one non-blocking read of what already arrived,
  // unless a large payload is being received and `large` is false (the io thread streams
  // those; a second reader would only contend with it). Returns the bytes read.
  size_t pollSmall(bool large);
  // Caller thread: writes what waits for socket space (the io thread waits for writability
  // too; it then finds less or nothing left). Returns whether bytes left.
  bool pollWrite();
  // A posted receive's payload is arriving, or its trailer (a large payload's checksum follows
  // its write, tcp_peer_write.cc), and the frame is not complete (any thread).
  bool receivingPayload() const;
  // A read could make progress once the socket turns readable: the connection is open and no
  // frame is held for a receive not yet posted (any thread; what a socket park watches).
  bool readWatchable() const;
  // Writes queued sends; returns true while some bytes are still waiting for socket space.
  bool flush();
  // The connection is gone: every pending request fails with `why`, and so does every later
  // one (except receives whose message had already arrived whole). Stops using the socket.
  // `log` is false for an orderly shutdown.
  void fail(Status why, bool log = true);

 private:
  enum class FlushResult { kDone, kWouldBlock, kFailed };
  static constexpr ssize_t kReadWouldBlock = -1;
  static constexpr ssize_t kReadClosed = -2;
  static constexpr ssize_t kReadHeld = -3;
  // One recv (into the staging buffer or straight into the destination) and its decoding.
  // Returns the bytes read, kReadWouldBlock, kReadHeld or kReadClosed (the peer has failed).
  ssize_t readOnceLocked();
  // Feeds staging_[from, to) to the decoder; records where a hold stopped it. False: the
  // stream is corrupt and the peer has failed.
  bool feedStagingLocked(size_t from, size_t to);
  // A receive was posted while a frame is held: the frame goes to its receive (or, if it is not
  // this frame's, is buffered), the staged bytes after its header follow, and reading resumes.
  void releaseHeldLocked();
  // Runs the corrupt-stream report recorded under the mutex, after releasing it.
  void reportCorruptStream(std::unique_lock<std::mutex>& lock);
  FlushResult flushLocked();
  // The socket is full: while the peer drains it, the front frame's bytes already written are
  // checksummed (a large payload's checksum runs behind its write), work the trailer waits for.
  void checksumWrittenLocked();
  // Folds the payload's bytes up to `end` into the op's running CRC32C (if checksums are on).
  void checksumThrough(TcpOp& op, uint64_t end) const;
  // The caller's thread writes the queue unless the io thread already waits to (then it asks it).
  void writeFromCallerLocked();
  // Adds the iovec entries of `op`'s unwritten bytes (a large payload whole, its trailer only in
  // a later call, once its checksum covers it); returns false when the frame does not end in
  // this batch.
  bool appendFrame(TcpOp& op, iovec* iov, int& count, size_t& bytes) const;
  // KOLO_FAULT_INJECT action=corrupt at a data phase: the frame goes out with one byte flipped
  // after its checksum was taken over the true payload.
  void corruptInTransit(TcpOp& op) const;
  void failLocked(Status why, bool log = true);
  void completeLocked(TcpOp& op, Status status);
  Status lostStatus(const std::string& reason) const;
  Status mismatchStatus(uint64_t tag, size_t posted, size_t arrived) const;

  // FrameSink, called with the mutex held.
  void onHeader(uint64_t tag, uint64_t length) override;
  void onPayload(std::span<const std::byte> piece) override;
  void onFrameEnd() override;
  bool pauseAfterHeader() override { return held_.active; }
  // Where onHeader sends a frame's payload: its posted receive, or an unexpected buffer.
  void routeFrameLocked(uint64_t tag, uint64_t length);

  const int selfRank_;
  const int peerRank_;
  const int shownRank_;  // the peer's number in messages: its world rank where known
  const std::string endpoint_;
  const bool checksum_;
  const std::function<void(const std::string&)> onCorruptStream_;
  std::string corruptStream_;  // the decoder's error, reported once the mutex is released
  std::shared_ptr<LocalDoorbell> bell_;
  std::function<void()> wantWrite_;
  std::function<void()> wantRead_;
  std::function<void(const Status&)> onLost_;

  mutable std::mutex mutex_;
  int fd_;                     // -1 once failed
  Status dead_;                // non-OK once the connection is lost
  // The io thread waits for writability: written under the mutex, read without it too (a
  // caller's poll looks at it every round).
  std::atomic<bool> writeWaiting_{false};
  int batches_ = 0;            // open batches (beginBatch)
  std::deque<std::shared_ptr<TcpOp>> sendQueue_;
  std::unordered_map<TcpOp*, std::shared_ptr<TcpOp>> pending_;
  TagMatcher<std::shared_ptr<TcpOp>> matcher_;
  FrameDecoder decoder_;
  // The frame being read and where its payload goes: a posted receive, an unexpected-message
  // buffer, or nowhere (size mismatch, cancelled receive).
  struct IncomingFrame {
    std::shared_ptr<TcpOp> op;
    bool unexpected = false;
    std::vector<std::byte> unexpectedBytes;
    uint64_t tag = 0;
    uint64_t offset = 0;
  };
  IncomingFrame incoming_;
  // The held frame (see the class comment): its length, and the part of staging_ read past
  // its header and not yet fed to the decoder.
  struct HeldFrame {
    bool active = false;
    uint64_t length = 0;
    size_t from = 0, to = 0;
  };
  HeldFrame held_;
  TrafficMeter sendMeter_, recvMeter_;
  std::vector<std::byte> staging_;
};

}  // namespace kolo::tcp
