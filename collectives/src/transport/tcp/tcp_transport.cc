#include "transport/tcp/tcp_transport.h"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <utility>

#include "kolo/base/fault_injection.h"
#include "kolo/base/logging.h"
#include "transport/tcp/tcp_stripes.h"

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

TcpTransport::TcpTransport(int rank, int size, std::unique_ptr<asio::io_context> io,
                           std::vector<TcpConnection> connections, const TcpOptions& options)
    : rank_(rank),
      size_(size),
      bell_(std::make_shared<LocalDoorbell>()),
      io_(std::move(io)),
      streams_(std::max(1, options.streams)),
      connections_(std::move(connections)),
      lanes_(static_cast<size_t>(size) * static_cast<size_t>(streams_)),
      channels_(static_cast<size_t>(size)),
      readArmed_(lanes_.size(), 0),
      chunkBytes_(options.chunkBytes) {
  connections_.resize(lanes_.size());
  for (int r = 0; r < size; ++r) {
    if (r == rank) continue;
    std::vector<std::shared_ptr<TcpPeer>> pair;
    for (int s = 0; s < streams_; ++s) {
      const int lane = r * streams_ + s;
      if (!connections_[static_cast<size_t>(lane)].socket) break;
      lanes_[static_cast<size_t>(lane)] = makeLane(lane, options);
      pair.push_back(lanes_[static_cast<size_t>(lane)]);
    }
    if (pair.empty()) continue;
    channels_[static_cast<size_t>(r)] =
        std::make_unique<StripedChannel>(std::move(pair), options.stripeMinBytes);
  }
  // KOLO_FAULT_INJECT action=drop_conn: the peers see these connections end at once (only
  // stream S of each pair for drop_conn:S).
  std::vector<std::pair<int, int>> fds;  // descriptor, stream
  for (const TcpConnection& conn : connections_) {
    if (conn.socket) fds.emplace_back(conn.socket->native_handle(), conn.stream);
  }
  faultSeverId_ = registerFaultSever([fds](int stream) {
    for (const auto& [fd, s] : fds) {
      if (stream < 0 || stream == s) ::shutdown(fd, SHUT_RDWR);
    }
  });
  // The bootstrap ran this io_context until it had no work left, which leaves it stopped.
  io_->restart();
  for (size_t lane = 0; lane < lanes_.size(); ++lane) {
    if (lanes_[lane]) waitReadable(static_cast<int>(lane));
  }
  ioThread_ = std::thread([this] {
    auto guard = asio::make_work_guard(*io_);
    io_->run();
  });
}

std::shared_ptr<TcpPeer> TcpTransport::makeLane(int lane, const TcpOptions& options) {
  const int r = lane / streams_;
  TcpConnection& conn = connections_[static_cast<size_t>(lane)];
  boost::system::error_code ec;
  conn.socket->set_option(tcp::no_delay(true), ec);
  if (options.socketBufferBytes > 0) {
    conn.socket->set_option(asio::socket_base::send_buffer_size(options.socketBufferBytes), ec);
    conn.socket->set_option(asio::socket_base::receive_buffer_size(options.socketBufferBytes), ec);
  }
  conn.socket->non_blocking(true, ec);
  if (ec) {
    KOLO_LOG(kWarning, "tcp", "rank {}: cannot make the socket to rank {} non-blocking: {}", rank_,
             r, ec.message());
  }
  asio::io_context* ioc = io_.get();
  auto wantWrite = [this, ioc, lane] { asio::post(*ioc, [this, lane] { waitWritable(lane); }); };
  auto wantRead = [this, ioc, lane] { asio::post(*ioc, [this, lane] { onReadable(lane); }); };
  auto peer =
      std::make_shared<TcpPeer>(rank_, r, conn.endpoint, conn.socket->native_handle(), bell_,
                                std::move(wantWrite), std::move(wantRead), options.checksum,
                                corruptStreamOf(options.reportCorruptStream, r, conn.endpoint),
                                static_cast<size_t>(r) < options.worldRanks.size()
                                    ? options.worldRanks[static_cast<size_t>(r)]
                                    : -1);
  if (streams_ > 1) {
    peer->setOnLost([this, ioc, r](const Status& why) {
      asio::post(*ioc, [this, r, why] { failPeer(r, why); });
    });
  }
  return peer;
}

TcpTransport::~TcpTransport() {
  unregisterFaultSever(faultSeverId_);
  Status shutdown = makeStatus(Code::kAborted, "rank {}: tcp transport shut down", rank_);
  for (auto& lane : lanes_) {
    if (lane) lane->fail(shutdown, /*log=*/false);
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
  for (auto& lane : lanes_) {
    if (lane) moved += lane->pollSmall();
  }
  return moved > 0;
}

std::vector<PeerTraffic> TcpTransport::traffic() const {
  // A striped message has a piece on every stream and always one on the first: bytes add up
  // over the streams, message counts and busy time are the first stream's.
  std::vector<PeerTraffic> all(static_cast<size_t>(size_));
  for (size_t lane = 0; lane < lanes_.size(); ++lane) {
    if (!lanes_[lane]) continue;
    const PeerTraffic t = lanes_[lane]->traffic();
    PeerTraffic& sum = all[lane / static_cast<size_t>(streams_)];
    sum.bytesSent += t.bytesSent;
    sum.bytesReceived += t.bytesReceived;
    if (lane % static_cast<size_t>(streams_) == 0) {
      sum.sends = t.sends;
      sum.recvs = t.recvs;
      sum.sendBusyNanos = t.sendBusyNanos;
      sum.recvBusyNanos = t.recvBusyNanos;
    }
  }
  return all;
}

void TcpTransport::failPeer(int peer, const Status& why) {
  for (int s = 0; s < streams_; ++s) {
    const auto& lane = lanes_[static_cast<size_t>(peer * streams_ + s)];
    if (lane) lane->fail(why);
  }
}

void TcpTransport::waitReadable(int lane) {
  char& armed = readArmed_[static_cast<size_t>(lane)];
  if (armed) return;  // a read requested by the peer (wantRead) ran while this wait was pending
  armed = 1;
  tcp::socket& socket = *connections_[static_cast<size_t>(lane)].socket;
  socket.async_wait(tcp::socket::wait_read, [this, lane](const boost::system::error_code& ec) {
    readArmed_[static_cast<size_t>(lane)] = 0;
    if (!ec) onReadable(lane);
  });
}

void TcpTransport::onReadable(int lane) {
  TcpPeer& p = *lanes_[static_cast<size_t>(lane)];
  switch (p.readAvailable(kReadBudget)) {
    case TcpPeer::ReadResult::kWouldBlock:
      waitReadable(lane);
      break;
    case TcpPeer::ReadResult::kBudgetSpent:
      asio::post(*io_, [this, lane] { onReadable(lane); });
      break;
    case TcpPeer::ReadResult::kHeld:  // the peer's wantRead calls again once it is released
      break;
    case TcpPeer::ReadResult::kClosed: {
      // The peer already failed its requests; closing stops the other waits on this socket.
      boost::system::error_code ec;
      connections_[static_cast<size_t>(lane)].socket->close(ec);
      break;
    }
  }
}

void TcpTransport::waitWritable(int lane) {
  tcp::socket& socket = *connections_[static_cast<size_t>(lane)].socket;
  if (!socket.is_open()) return;
  socket.async_wait(tcp::socket::wait_write, [this, lane](const boost::system::error_code& ec) {
    if (ec) return;
    if (lanes_[static_cast<size_t>(lane)]->flush()) waitWritable(lane);
  });
}

}  // namespace kolo::tcp
