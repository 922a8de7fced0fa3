// Striping over several TCP connections per peer pair (KOLO_TCP_STREAMS). Each connection is a
// TcpPeer of its own (its socket, send queue, decoder and tag matching); a message of at least
// the stripe threshold is cut into one contiguous stripe per connection, every stripe a frame of
// its own (with its own checksum) under the message's tag, written and read concurrently and
// landing in place in the posted buffer. Smaller messages travel on the first connection only.
// Why per-tag order still holds: both ends cut a message the same way from its size, every
// connection delivers its frames in order, and a receive posts its stripes on every connection
// in the order the receives are posted, so on each connection the n-th frame with a tag meets
// the n-th receive with that tag, as on one connection. A size mismatch between a send and its
// receive still fails as kMismatch (on the first connection whose stripe or message disagrees).
// Thread: postSend/postRecv and the requests on the caller's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kolo/collectives/transport.h"
#include "transport/tcp/tcp_peer.h"

namespace kolo::tcp {

// Stripe `index` (from 0) of a `size`-byte message cut over `streams` connections: contiguous,
// in order, lengths differing by at most one byte.
struct StripeRange {
  size_t offset = 0;
  size_t length = 0;
};
StripeRange stripeOf(size_t size, int streams, int index);

class StripedChannel final : public Channel {
 public:
  // `lanes`: the pair's connections, stream 0 first (at least one). Messages of at least
  // `stripeMinBytes` are striped when there is more than one lane.
  StripedChannel(std::vector<std::shared_ptr<TcpPeer>> lanes, size_t stripeMinBytes);

  int peer() const override { return lanes_.front()->peerRank(); }
  TransferRequestPtr postSend(uint64_t tag, std::span<const std::byte> data) override;
  TransferRequestPtr postRecv(uint64_t tag, std::span<std::byte> data) override;
  // A round trip costs tens of microseconds here, a copy of this much a few: eager up to just
  // below the size from which a frame whose receive is not posted is held in the socket.
  size_t eagerBytes() const override { return TcpPeer::kHoldMinBytes - 4096; }
  // Unstriped messages travel on the first lane: its sends are the ones batched.
  void beginBatch() override { lanes_.front()->beginBatch(); }
  void endBatch() override { lanes_.front()->endBatch(); }

 private:
  bool striped(size_t bytes) const { return lanes_.size() > 1 && bytes >= stripeMin_; }
  // One post on the first lane, or one per lane over the stripes of `data`.
  template <class Bytes, class PostOne>
  TransferRequestPtr post(uint64_t tag, Bytes data, bool send, PostOne postOne);

  std::vector<std::shared_ptr<TcpPeer>> lanes_;
  size_t stripeMin_;
};

}  // namespace kolo::tcp
