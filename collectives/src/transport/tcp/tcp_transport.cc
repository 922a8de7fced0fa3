#include "transport/tcp/tcp_transport.h"

#include <sys/socket.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "kolo/base/fault_injection.h"
#include "kolo/base/logging.h"
#include "kolo/collectives/phase_clock.h"

namespace kolo::tcp {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// Bytes one peer may read per turn before the io thread serves the others.
constexpr size_t kReadBudget = 16 * 1024 * 1024;

// The one peer's view of the transport's reporter.
std::function<void(const std::string&)> corruptStreamOf(const CorruptStreamReporter& report,
                                                        int peer, const std::string& endpoint) {
  if (!report) return {};
  return [report, peer, endpoint](const std::string& why) { report(peer, endpoint, why); };
}
}  // namespace

class TcpTransport::TcpChannel final : public Channel {
 public:
  explicit TcpChannel(std::shared_ptr<TcpPeer> peer) : peer_(std::move(peer)) {}
  int peer() const override { return peer_->peerRank(); }
  // A post writes what the socket takes at once (and a receive takes what already arrived):
  // transfer time for the phase clock.
  TransferRequestPtr postSend(uint64_t tag, std::span<const std::byte> data) override {
    ScopedPhase phase(Phase::kTransfer);
    return peer_->postSend(tag, data);
  }
  TransferRequestPtr postRecv(uint64_t tag, std::span<std::byte> data) override {
    ScopedPhase phase(Phase::kTransfer);
    return peer_->postRecv(tag, data);
  }

 private:
  std::shared_ptr<TcpPeer> peer_;
};

TcpTransport::TcpTransport(int rank, int size, std::unique_ptr<asio::io_context> io,
                           std::vector<TcpConnection> connections, const TcpOptions& options)
    : rank_(rank),
      size_(size),
      bell_(std::make_shared<LocalDoorbell>()),
      io_(std::move(io)),
      connections_(std::move(connections)),
      peers_(static_cast<size_t>(size)),
      channels_(static_cast<size_t>(size)),
      readArmed_(static_cast<size_t>(size), 0),
      chunkBytes_(options.chunkBytes) {
  connections_.resize(static_cast<size_t>(size));
  for (int r = 0; r < size; ++r) {
    TcpConnection& conn = connections_[static_cast<size_t>(r)];
    if (r == rank || !conn.socket) continue;
    boost::system::error_code ec;
    conn.socket->set_option(tcp::no_delay(true), ec);
    if (options.socketBufferBytes > 0) {
      conn.socket->set_option(asio::socket_base::send_buffer_size(options.socketBufferBytes), ec);
      conn.socket->set_option(asio::socket_base::receive_buffer_size(options.socketBufferBytes),
                              ec);
    }
    conn.socket->non_blocking(true, ec);
    if (ec) {
      KOLO_LOG(kWarning, "tcp", "rank {}: cannot make the socket to rank {} non-blocking: {}", rank,
               r, ec.message());
    }
    asio::io_context* ioc = io_.get();
    auto wantWrite = [this, ioc, r] { asio::post(*ioc, [this, r] { waitWritable(r); }); };
    auto wantRead = [this, ioc, r] { asio::post(*ioc, [this, r] { onReadable(r); }); };
    peers_[static_cast<size_t>(r)] =
        std::make_shared<TcpPeer>(rank, r, conn.endpoint, conn.socket->native_handle(), bell_,
                                  std::move(wantWrite), std::move(wantRead), options.checksum,
                                  corruptStreamOf(options.reportCorruptStream, r, conn.endpoint),
                                  static_cast<size_t>(r) < options.worldRanks.size()
                                      ? options.worldRanks[static_cast<size_t>(r)]
                                      : -1);
    channels_[static_cast<size_t>(r)] =
        std::make_unique<TcpChannel>(peers_[static_cast<size_t>(r)]);
    waitReadable(r);
  }
  // KOLO_FAULT_INJECT action=drop_conn: the peers see these connections end at once.
  std::vector<int> fds;
  for (const TcpConnection& conn : connections_) {
    if (conn.socket) fds.push_back(conn.socket->native_handle());
  }
  faultSeverId_ = registerFaultSever([fds] {
    for (int fd : fds) ::shutdown(fd, SHUT_RDWR);
  });
  // The bootstrap ran this io_context until it had no work left, which leaves it stopped.
  io_->restart();
  ioThread_ = std::thread([this] {
    auto guard = asio::make_work_guard(*io_);
    io_->run();
  });
}

TcpTransport::~TcpTransport() {
  unregisterFaultSever(faultSeverId_);
  Status shutdown = makeStatus(Code::kAborted, "rank {}: tcp transport shut down", rank_);
  for (auto& peer : peers_) {
    if (peer) peer->fail(shutdown, /*log=*/false);
  }
  io_->stop();
  if (ioThread_.joinable()) ioThread_.join();
  for (auto& conn : connections_) {
    if (!conn.socket) continue;
    boost::system::error_code ec;
    conn.socket->shutdown(tcp::socket::shutdown_both, ec);
    conn.socket->close(ec);
    conn.socket.reset();
  }
}

bool TcpTransport::pollIncoming() {
  // A peer whose connection ends here is closed by the io thread, whose wait on the socket
  // fires for the same end of stream.
  size_t moved = 0;
  for (auto& peer : peers_) {
    if (peer) moved += peer->pollSmall();
  }
  return moved > 0;
}

std::vector<PeerTraffic> TcpTransport::traffic() const {
  std::vector<PeerTraffic> all(static_cast<size_t>(size_));
  for (size_t r = 0; r < peers_.size(); ++r) {
    if (peers_[r]) all[r] = peers_[r]->traffic();
  }
  return all;
}

void TcpTransport::waitReadable(int peer) {
  char& armed = readArmed_[static_cast<size_t>(peer)];
  if (armed) return;  // a read requested by the peer (wantRead) ran while this wait was pending
  armed = 1;
  tcp::socket& socket = *connections_[static_cast<size_t>(peer)].socket;
  socket.async_wait(tcp::socket::wait_read, [this, peer](const boost::system::error_code& ec) {
    readArmed_[static_cast<size_t>(peer)] = 0;
    if (!ec) onReadable(peer);
  });
}

void TcpTransport::onReadable(int peer) {
  TcpPeer& p = *peers_[static_cast<size_t>(peer)];
  switch (p.readAvailable(kReadBudget)) {
    case TcpPeer::ReadResult::kWouldBlock:
      waitReadable(peer);
      break;
    case TcpPeer::ReadResult::kBudgetSpent:
      asio::post(*io_, [this, peer] { onReadable(peer); });
      break;
    case TcpPeer::ReadResult::kHeld:  // the peer's wantRead calls again once it is released
      break;
    case TcpPeer::ReadResult::kClosed: {
      // The peer already failed its requests; closing stops the other waits on this socket.
      boost::system::error_code ec;
      connections_[static_cast<size_t>(peer)].socket->close(ec);
      break;
    }
  }
}

void TcpTransport::waitWritable(int peer) {
  tcp::socket& socket = *connections_[static_cast<size_t>(peer)].socket;
  if (!socket.is_open()) return;
  socket.async_wait(tcp::socket::wait_write, [this, peer](const boost::system::error_code& ec) {
    if (ec) return;
    if (peers_[static_cast<size_t>(peer)]->flush()) waitWritable(peer);
  });
}

}  // namespace kolo::tcp
