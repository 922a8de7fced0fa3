// PeerTransfer: one point-to-point message of a process set (a send or a receive), as a state
// machine over the set's channels. The protocol, per message (see docs/ARCHITECTURE.md,
// "Point-to-point"):
//   sender                                  receiver
//   header {dtype, count, bytes}  ──HDR──►  matched in posting order per (peer, tag)
//                                 ◄─REPLY─  accepted, or rejected with its own dtype and count
//                                           (an accepted receive posts its payload receive
//                                           first, so the payload always lands in place)
//   payload (only when accepted)  ──DATA─►  into the caller's buffer
// On one host, a rendezvous header also carries the payload's address, and the receiver may
// read it itself (peer_pull.h) and answer "pulled" instead: no DATA frame at all.
// A payload of more than the channel's eagerBytes() (16 KiB; TCP 60 KiB) flows only after the
// receive is posted: nothing large waits in an unexpected buffer or blocks a TCP connection
// that collectives share. A smaller one goes right behind its header (eager: the receiver
// completes one hop after the send, not three). The oldest receive of its (peer, tag) whose
// own size is eager posts its payload receive together with its header's, so such a payload
// lands in place even when it arrives with the header; it is withdrawn if the header announces
// a rendezvous message, and a payload of another size fails it (the channel discards that
// payload). A receiver that rejects an eager payload it had not posted for drains it into
// scratch memory. A rejected message ends both sides with kMismatch naming both sides, and the
// channel stays usable; the receiver's buffer may then hold the rejected payload's bytes when
// its size matched (another dtype or shape of the same size), as MPI leaves a failed receive's
// buffer undefined.
// Every tag lies in a reserved space (bit 63 and bit 55 set) that collectives' tags
// (Communicator::beginCollective) and the coordinator's go messages never use.
// Thread: one at a time: the caller's (creation, and the first steps under the PeerExchange's
// mutex when nothing of its key is pending), then the PeerExchange's progress thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kolo/base/deadline.h"
#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "kolo/core/handle.h"
#include "kolo/core/tensor.h"
#include "peer_book.h"

namespace kolo::core {

// Largest tag users may give (tags are 0 .. kMaxPeerTag, as MPI's guaranteed range is wider).
inline constexpr int32_t kMaxPeerTag = 0x7fffffff;

// Payloads up to this size go eagerly unless the channel says otherwise (Channel::eagerBytes);
// TCP's limit stays below its held-frame threshold (64 KiB), so an eager payload always lands
// in the transport's unexpected-message store when no receive is posted yet.
inline constexpr uint64_t kPeerEagerBytes = Channel::kDefaultEagerBytes;

enum class PeerTagKind : uint64_t { kHeader = 1, kReply = 2, kData = 3 };

// The channel tag of `kind` for user tag `tag`: bit 63 (control space) and bit 55 mark
// point-to-point; bits 32..33 the kind; bits 0..30 the user's tag.
constexpr uint64_t peerChannelTag(PeerTagKind kind, int32_t tag) {
  return (uint64_t{1} << 63) | (uint64_t{1} << 55) | (static_cast<uint64_t>(kind) << 32) |
         static_cast<uint32_t>(tag);
}

struct PeerHeader {
  uint32_t magic = 0;
  uint32_t dtype = 0;
  int64_t count = 0;
  uint64_t bytes = 0;
  // A rendezvous payload over shared memory: its address in the sender, which the receiver
  // may read itself (peer_pull.h); 0: the payload comes through the channel.
  uint64_t address = 0;
};
// PeerReply::accepted: rejected, accepted (send the payload), or pulled (the receiver read it).
inline constexpr uint32_t kPeerRejected = 0;
inline constexpr uint32_t kPeerAccepted = 1;
inline constexpr uint32_t kPeerPulled = 2;
struct PeerReply {
  uint32_t accepted = 0;
  uint32_t dtype = 0;
  int64_t count = 0;
};
inline constexpr uint32_t kPeerHeaderMagic = 0x4b503250;  // "KP2P"
// An eager header that expects no reply (the shape was agreed before).
inline constexpr uint32_t kPeerAgreedMagic = 0x4b503245;  // "KP2E"

class PeerTransfer {
 public:
  // `peer` and `selfRank` are ranks of the process set; `data` is read (send) or written
  // (receive) and must stay valid until the state completes. `eagerBytes`: the channel's
  // (Channel::eagerBytes).
  PeerTransfer(bool isSend, int peer, int selfRank, int32_t tag, DataType dtype, int64_t count,
               void* data, std::shared_ptr<OpState> state, Deadline deadline,
               uint64_t eagerBytes = kPeerEagerBytes);
  ~PeerTransfer();
  PeerTransfer(const PeerTransfer&) = delete;
  PeerTransfer& operator=(const PeerTransfer&) = delete;

  bool isSend() const { return isSend_; }
  int peer() const { return peer_; }
  int32_t tag() const { return tag_; }
  DataType dtype() const { return dtype_; }
  int64_t count() const { return count_; }
  bool done() const { return done_; }
  bool started() const { return started_; }
  // Receiver: it read the payload from the sender's memory itself (peer_pull.h).
  bool pulled() const { return !isSend_ && reply_.accepted == kPeerPulled; }
  bool eager() const { return bytes() <= eagerBytes_; }
  PeerBook::Key key() const { return {isSend_, peer_, tag_}; }
  // Lets a caller waiting on this transfer's handle make its progress (OpState::setWaitHelper).
  void setWaitHelper(OpState::WaitHelper helper) { state_->setWaitHelper(std::move(helper)); }
  // Before start(): `book` counts this transfer as pending for its key until it is done (an
  // agreed send: until start() posted all its frames) and learns the receiver's verdict on an
  // eager send. Returns whether nothing of its key was pending before. Only then may a send
  // be agreed (its payload going at once, without waiting for a reply; see above): when the
  // book says the receiver accepted its shape last time on this (peer, tag).
  bool enter(PeerBook& book);
  // Still waiting for the peer's header (receive) or reply (send): transfers of the same
  // direction, peer and tag leave this phase in posting order.
  bool matching() const { return phase_ == Phase::kMatching; }
  const Deadline& deadline() const { return deadline_; }
  // "send to rank 1 tag 3", "recv from rank 0 tag 3".
  std::string describe() const;

  // Posts the first messages (an agreed send: all of them, and completes the caller's state).
  void start(Communicator& comm);
  // Makes what progress it can; returns true if the transfer moved (a phase ended).
  bool advance(Communicator& comm);
  // Ends the transfer with `status` (cancelling what is still posted) and completes its state.
  void fail(const Status& status);

 private:
  enum class Phase { kMatching, kFlowing, kRejecting, kDone };
  bool advanceSend(Communicator& comm);
  bool advanceRecv(Communicator& comm);
  // A finished request that failed: ends the transfer with its status. True if it did.
  bool failedRequest(const TransferRequestPtr& r);
  // The same for the payload receive, whose early-posted form may fail as designed.
  bool failedPayload();
  bool finished(const TransferRequestPtr& r);
  void complete(const Status& status);
  void leaveBook();
  Status mismatchForSender() const;
  Status mismatchForReceiver() const;
  size_t bytes() const { return static_cast<size_t>(count_) * dataTypeSize(dtype_); }
  // Sender: posts the payload (eager, or once accepted).
  void postPayload(Communicator& comm);
  // Receiver of an accepted rendezvous header with an address: reads the payload from the
  // sender's memory. False: it must come through the channel.
  bool pullPayload(const Channel& channel);

  const bool isSend_;
  const int peer_;
  const int self_;
  const int32_t tag_;
  const DataType dtype_;
  const int64_t count_;
  void* const data_;
  std::shared_ptr<OpState> state_;
  const Deadline deadline_;
  const uint64_t eagerBytes_;
  Phase phase_ = Phase::kMatching;
  bool done_ = false;
  bool started_ = false;
  bool agreed_ = false;
  bool prepost_ = false;  // receiver: the eager payload's receive is posted with the header's
  PeerBook* book_ = nullptr;  // released once leaveBook() ran
  // Agreed sender: the payload, so the caller's buffer is free (inline up to 64 bytes).
  std::array<std::byte, 64> inlineCopy_{};
  std::vector<std::byte> copy_;
  PeerHeader header_{};           // sent, or received from the peer
  PeerReply reply_{};             // received, or sent to the peer
  std::vector<std::byte> drain_;  // receiver: where a rejected eager payload goes
  TransferRequestPtr headerRequest_;
  TransferRequestPtr replyRequest_;
  TransferRequestPtr dataRequest_;
};
using PeerTransferPtr = std::unique_ptr<PeerTransfer>;

}  // namespace kolo::core
