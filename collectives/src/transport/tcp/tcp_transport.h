// TcpTransport: the Transport over one TCP connection per peer (see tcp_peer.h for the
// per-connection protocol state). One io thread runs an asio::io_context that waits for
// readability and writability of every socket; the bytes themselves move through the peers'
// non-blocking recv/sendmsg. Completions ring a LocalDoorbell so Communicator::waitAll, which
// parks on it, wakes without polling.
// Built by connectTcpTransport (tcp_bootstrap.h) from sockets that already passed the hello.
// Thread: posting, testing and cancelling on the caller's; completions on the io thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kolo/collectives/doorbell.h"
#include "kolo/collectives/transport.h"
#include "transport/tcp/tcp_options.h"
#include "transport/tcp/tcp_peer.h"

namespace kolo::tcp {

struct TcpConnection {
  int peer = -1;
  std::unique_ptr<boost::asio::ip::tcp::socket> socket;  // on the transport's io_context
  std::string endpoint;                                  // "addr:port" of the peer
};

class TcpTransport final : public Transport {
 public:
  // Takes the io_context the sockets were opened on and one connection per peer rank
  // (connections[r].socket is null for r == rank). options.socketBufferBytes > 0 sets SO_SNDBUF
  // and SO_RCVBUF (0 leaves the kernel's autotuning); options.checksum turns the frames' CRC32C
  // on. Starts the io thread.
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
  void waitForActivity(uint32_t seenEpoch, std::chrono::microseconds timeout) override {
    bell_->bell().wait(seenEpoch, timeout);
  }
  // Any thread: rings the doorbell that waiters park on.
  bool pollIncoming() override;
  std::vector<PeerTraffic> traffic() const override;
  size_t chunkBytes() const override { return chunkBytes_; }
  bool wake() override {
    bell_->bell().ring();
    return true;
  }

 private:
  class TcpChannel;
  void waitReadable(int peer);
  void onReadable(int peer);
  void waitWritable(int peer);

  const int rank_;
  const int size_;
  std::shared_ptr<LocalDoorbell> bell_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::vector<TcpConnection> connections_;
  std::vector<std::shared_ptr<TcpPeer>> peers_;
  std::vector<std::unique_ptr<Channel>> channels_;
  // Io thread only: a readability wait is pending for the peer (at most one is, whoever asks).
  std::vector<char> readArmed_;
  std::thread ioThread_;
  int faultSeverId_ = 0;  // registerFaultSever
  size_t chunkBytes_ = 0;
};

}  // namespace kolo::tcp
