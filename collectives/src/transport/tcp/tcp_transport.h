// TcpTransport: the Transport over KOLO_TCP_STREAMS TCP connections per peer (see tcp_peer.h
// for the per-connection protocol state, tcp_stripes.h for how large messages are cut over
// several). A connection of a pair that is lost fails the pair's others with the same reason:
// the peer has failed, whichever of its streams showed it. One io thread (tcp_io_loop.h) waits
// for readability and writability of the sockets, and leaves reading to the callers while they
// poll themselves (pollIncoming); the bytes move through the peers' non-blocking recv/sendmsg.
// Completions ring a LocalDoorbell so Communicator::waitAll, which parks on it, wakes without
// polling. Built by connectTcpTransport (tcp_bootstrap.h) from sockets that already passed the
// hello. Thread: posting, testing and cancelling on the caller's; completions on the io thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kolo/collectives/doorbell.h"
#include "kolo/collectives/transport.h"
#include "transport/tcp/tcp_io_loop.h"
#include "transport/tcp/tcp_options.h"
#include "transport/tcp/tcp_peer.h"

namespace kolo::tcp {

struct TcpConnection {
  int peer = -1;
  int stream = 0;                                        // which of the pair's connections
  std::unique_ptr<boost::asio::ip::tcp::socket> socket;  // on the transport's io_context
  std::string endpoint;                                  // "addr:port" of the peer
};

class TcpTransport final : public Transport {
 public:
  // Takes the io_context the sockets were opened on and options.streams connections per peer
  // rank (connections[r * streams + s] is stream s to rank r; null sockets for r == rank).
  // options.socketBufferBytes > 0 sets SO_SNDBUF and SO_RCVBUF (0 leaves the kernel's
  // autotuning); options.checksum turns the frames' CRC32C on. Starts the io thread.
  TcpTransport(int rank, int size, std::unique_ptr<boost::asio::io_context> io,
               std::vector<TcpConnection> connections, const TcpOptions& options);
  // Fails every unfinished request with kAborted, stops and joins the io thread and closes
  // the sockets (peers see the connection end).
  ~TcpTransport() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* name() const override { return "tcp"; }
  Channel& channel(int peer) override { return *channels_[static_cast<size_t>(peer)]; }
  uint32_t activityEpoch() const override { return bell_->bell().epoch(); }
  // Where waiters spin, a waiter parks on the connections themselves (parkOnSockets); where
  // they do not, it hands the connections it read itself back to the io thread and parks on
  // the doorbell.
  void waitForActivity(uint32_t seenEpoch, std::chrono::microseconds timeout) override;
  bool callersRead() const override { return loop_->anyLeft(); }
  void releaseReads() override { loop_->reclaim(); }
  // Any thread: rings the doorbell that waiters park on.
  bool pollIncoming() override;
  std::vector<PeerTraffic> traffic() const override;
  size_t chunkBytes() const override { return chunkBytes_; }
  bool wake() override {
    bell_->bell().ring();
    return true;
  }

 private:
  // Io thread, per connection ("lane": peer * streams_ + stream).
  TcpIoLoop::Read onReadable(int lane);
  // Io thread: one stream of `peer` was lost; every other one fails with `why`.
  void failPeer(int peer, const Status& why);
  std::shared_ptr<TcpPeer> makeLane(int lane, const TcpOptions& options);
  // Sleeps in ppoll() on the connections a read could progress and on the doorbell's eventfd,
  // so the bytes that end the wait wake this thread itself, which reads them: not the io thread
  // first, which would read them and ring the doorbell (a second wake-up, and on a small host a
  // thread that waits for a core the waiters hold). The lanes stay left to the callers.
  void parkOnSockets(uint32_t seenEpoch, std::chrono::microseconds timeout);
  // A posted receive's payload is arriving on some lane: polls it up to kStreamSpinNs for its
  // next segment. Returns whether bytes came.
  bool awaitPayloadSegment();

  const int rank_;
  const int size_;
  std::shared_ptr<LocalDoorbell> bell_;
  std::unique_ptr<boost::asio::io_context> io_;
  const int streams_;
  std::vector<TcpConnection> connections_;       // per lane
  std::vector<std::shared_ptr<TcpPeer>> lanes_;  // per lane; null for this rank's own
  std::vector<std::unique_ptr<Channel>> channels_;
  std::unique_ptr<TcpIoLoop> loop_;  // the io thread
  std::vector<int> laneFds_;         // per lane: its socket, or -1
  int bellFd_ = -1;                  // the doorbell's eventfd (LocalDoorbell::enableFdWake)
  int faultSeverId_ = 0;             // registerFaultSever
  size_t chunkBytes_ = 0;
};

}  // namespace kolo::tcp
