// ShmTransport: point-to-point messages between the ranks of one host over byte rings in the
// world's shared-memory segment (one ring per ordered pair of ranks).
//
// A message is a 16-byte frame header (tag, size) followed by its payload, streamed through the
// ring in pieces, so a message of any size passes through a ring of fixed size. There is no
// background thread: TransferRequest::test() moves bytes on the caller's thread. A send copies what
// fits into the ring; a receive drains its peer's ring into the posted buffer when the tag
// matches, or into an unexpected message that the channel's TagMatcher keeps until its receive
// is posted. After writing, a sender rings the receiver's doorbell; after consuming, a receiver
// rings the sender's, so Communicator::waitAll can park on waitForActivity().
// Requests must finish or be cancelled before the transport is destroyed.
// Thread: the caller's, one collective at a time.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "kolo/collectives/doorbell.h"
#include "kolo/collectives/tag_matcher.h"
#include "kolo/collectives/transport.h"
#include "transport/shm/byte_ring.h"
#include "transport/shm/shm_segment.h"

namespace kolo::shm {

class ShmChannel;
class ShmTransport;

// One posted send or receive. test() progresses every channel of the transport: a rank waiting
// on one peer must still drain the rings of the others, or ranks blocked on full rings in a
// cycle (a ring allreduce whose sends all wait for space) would wait for each other forever.
class ShmRequest final : public TransferRequest {
 public:
  ShmRequest(ShmChannel* channel, bool isSend, uint64_t tag, std::byte* data, size_t bytes)
      : channel_(channel), isSend_(isSend), tag_(tag), data_(data), bytes_(bytes) {}
  ~ShmRequest() override;

  bool test() override;
  Status status() const override { return status_; }
  std::string describe() const override;
  void cancel() override;

 private:
  friend class ShmChannel;
  void finish(Status status) {
    status_ = std::move(status);
    done_ = true;
  }

  ShmChannel* channel_;
  bool isSend_;
  uint64_t tag_;
  std::byte* data_;
  size_t bytes_;
  size_t moved_ = 0;         // payload bytes copied so far
  bool headerSent_ = false;  // sends: the frame header is in the ring
  bool done_ = false;
  Status status_;
};

class ShmChannel final : public Channel {
 public:
  ShmChannel(ShmTransport* transport, int rank, int peer, ByteRing out, ByteRing in,
             Doorbell peerBell);
  ShmTransport& transport() { return *transport_; }
  int peer() const override { return peer_; }
  TransferRequestPtr postSend(uint64_t tag, std::span<const std::byte> data) override;
  TransferRequestPtr postRecv(uint64_t tag, std::span<std::byte> data) override;
  SameHostPeer sameHostPeer() const override;

  // Moves whatever bytes can move now in both directions.
  void progress();
  void cancel(ShmRequest* request);

 private:
  struct FrameHeader {
    uint64_t tag;
    uint64_t size;
  };
  enum class RecvState { kHeader, kPayload };

  void progressSend();
  void progressRecv();
  // The frame whose payload is being received is complete: hand it to its receive or keep it.
  void finishIncoming();
  void deliverUnexpected(ShmRequest* recv, std::vector<std::byte> bytes);
  Status mismatch(const ShmRequest& recv, size_t messageBytes) const;
  void breakChannel(Status status);

  ShmTransport* transport_;
  int rank_;
  int peer_;
  ByteRing out_;
  ByteRing in_;
  Doorbell peerBell_;
  std::deque<ShmRequest*> sendQueue_;
  TagMatcher<ShmRequest*> matcher_;
  // The frame being received and where its payload goes: a posted receive, an unexpected
  // buffer, or nowhere (a receive that failed on its size, or was cancelled mid-frame).
  RecvState recvState_ = RecvState::kHeader;
  FrameHeader incoming_{};
  size_t incomingMoved_ = 0;
  ShmRequest* incomingRecv_ = nullptr;
  std::vector<std::byte> incomingUnexpected_;
  bool incomingToUnexpected_ = false;
  Status broken_;
};

class ShmTransport final : public Transport {
 public:
  ShmTransport(std::shared_ptr<ShmSegment> segment, int rank, int size,
               uint64_t pullMinBytes = uint64_t{512} << 10);
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* name() const override { return "shm"; }
  Channel& channel(int peer) override { return *channels_[size_t(peer)]; }
  uint32_t activityEpoch() const override { return ownBell_.epoch(); }
  void waitForActivity(uint32_t seenEpoch, std::chrono::microseconds timeout) override {
    ownBell_.wait(seenEpoch, timeout);
  }
  // Any thread: rings this rank's own doorbell, which waitForActivity parks on.
  bool wake() override {
    ownBell_.ring();
    return true;
  }
  int lostPeer() const override;
  // `peer`'s process id, as it published it in the segment.
  int32_t peerPid(int peer) const;
  // The smallest point-to-point message a peer should read from this rank's memory.
  uint64_t pullMinBytes() const { return pullMinBytes_; }
  // Moves whatever bytes can move now on every channel (sends, and receives into posted
  // buffers or unexpected messages).
  void progressAll();

 private:
  std::shared_ptr<ShmSegment> segment_;
  int rank_;
  int size_;
  Doorbell ownBell_;
  uint64_t pullMinBytes_;
  std::vector<std::unique_ptr<ShmChannel>> channels_;  // null at our own rank
};

}  // namespace kolo::shm
