// The transport interface: one Channel per peer, postSend/postRecv(tag, bytes)
// returning a TransferRequest. Algorithms post requests and wait with waitAll(), which
// always has a deadline. Implementations: shm/ (same host), tcp/ (Boost.Asio), loopback/
// (in-process, fault injection).
//
// Thread: requests are posted, tested and cancelled on the caller's thread (one collective
// at a time per Transport); implementations may complete them from their own io thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/peer_traffic.h"

namespace kolo {

class NativeCollectives;  // native_collectives.h

class TransferRequest {
 public:
  virtual ~TransferRequest() = default;
  // Non-blocking: makes whatever progress this request can make now (a shm transport copies
  // here) and returns true once the request has finished, successfully or not.
  virtual bool test() = 0;
  // The outcome; valid once test() returned true. Failures name the peer rank.
  virtual Status status() const = 0;
  // For messages: "recv of 4096 B from rank 3 (tag 0x100002)".
  virtual std::string describe() const = 0;
  // The waiter gave up. After cancel() returns the transport never touches the request's
  // buffer again. Only called on unfinished requests.
  virtual void cancel() = 0;
};
using TransferRequestPtr = std::unique_ptr<TransferRequest>;

class Channel {
 public:
  virtual ~Channel() = default;
  virtual int peer() const = 0;
  // Sends data.size() bytes under `tag`. `data` must stay valid until the request finishes.
  virtual TransferRequestPtr postSend(uint64_t tag, std::span<const std::byte> data) = 0;
  // Receives the message sent under `tag` by this peer. Messages with other tags that arrive
  // first are kept until a matching receive is posted. A message whose size differs from
  // data.size() fails the request with kMismatch naming both sizes.
  virtual TransferRequestPtr postRecv(uint64_t tag, std::span<std::byte> data) = 0;
  // Where this channel is memory shared on one host: the peer's process id (its memory may be
  // read with process_vm_readv) and the smallest message worth reading that way instead of
  // copying it through the channel. pid 0: not such a channel.
  struct SameHostPeer {
    int32_t pid = 0;
    uint64_t pullMinBytes = 0;
  };
  virtual SameHostPeer sameHostPeer() const { return {}; }
  // The largest point-to-point payload worth sending before its receive is known to be posted
  // (eager: it may wait in the receiver's unexpected-message store); larger ones wait for the
  // receiver's go. Both ends of a channel answer the same.
  static constexpr size_t kDefaultEagerBytes = size_t{16} << 10;
  virtual size_t eagerBytes() const { return kDefaultEagerBytes; }
  // Sends posted between beginBatch() and the matching endBatch() may leave together (TCP:
  // in one sendmsg, so a small message's header and payload travel as one segment and arrive
  // in one read). Posts still return at once; endBatch() writes what was held. Batches nest.
  virtual void beginBatch() {}
  virtual void endBatch() {}
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* name() const = 0;  // "shm", "tcp", "loopback"
  // Precondition: peer != rank(), 0 <= peer < size().
  virtual Channel& channel(int peer) = 0;

  // Futex-style parking for waiters: read activityEpoch(), test requests, and if none
  // progressed call waitForActivity(epoch, t). It returns when the epoch moved (a message
  // arrived, buffer space was freed, a request completed on the io thread) or after `t`.
  virtual uint32_t activityEpoch() const = 0;
  virtual void waitForActivity(uint32_t seenEpoch, std::chrono::microseconds timeout) = 0;
  // Moves this rank's activity epoch from any thread, so a thread parked in waitForActivity
  // (the runtime's coordinator waiting for peers) also wakes for new local work. Returns false
  // when the transport cannot do that; callers then park in short timed slices instead.
  virtual bool wake() { return false; }
  // Moves what already arrived into posted receives on the calling thread (TCP: a non-blocking
  // read of each connection), so a rank spinning in waitAll does not wait for an io thread to
  // be scheduled; on a busy core that hop costs tens of microseconds. Returns whether any bytes
  // moved (a caller stops polling once it keeps finding nothing: each poll is a system call).
  virtual bool pollIncoming() { return false; }
  // The transport's own thread left reading to the callers' pollIncoming (TCP, while they
  // poll): a wait that stops polling sees nothing new until it parks in waitForActivity or
  // calls releaseReads.
  virtual bool callersRead() const { return false; }
  // The calling thread stops polling and parks elsewhere than waitForActivity (which does
  // this itself): the transport's own thread reads what arrives again.
  virtual void releaseReads() {}
  // Bytes and busy time per peer since the transport started, indexed by rank (peer_traffic.h);
  // empty when this transport keeps no counters.
  virtual std::vector<PeerTraffic> traffic() const { return {}; }
  // The chunk size pipelined algorithms (ring, chain broadcast) should cut large transfers
  // into over this transport; 0 keeps the algorithms' own (sized for caches, as shared memory
  // wants). TCP wants fewer, larger chunks: each one costs a wakeup at both ends.
  virtual size_t chunkBytes() const { return 0; }
  // A peer whose process this transport knows has exited, or -1. Shared memory asks the
  // kernel about each peer's pid (a dead peer on a socket is seen by the socket instead, and
  // MPI reports its own failures). A parked waiter calls it every ~100 ms, so a peer that
  // vanished while nobody was sending to it still fails the wait long before the deadline.
  virtual int lostPeer() const { return -1; }
  // Non-null when the library under this transport runs collectives itself (MPI with
  // KOLO_CPU_OPERATIONS=mpi); kolo::coll then dispatches to it.
  virtual NativeCollectives* nativeCollectives() { return nullptr; }
};

}  // namespace kolo
