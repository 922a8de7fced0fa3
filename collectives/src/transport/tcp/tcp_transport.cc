#include "transport/tcp/tcp_transport.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "kolo/base/cpu_contention.h"
#include "kolo/base/fault_injection.h"
#include "kolo/base/logging.h"
#include "transport/tcp/tcp_stripes.h"

namespace kolo::tcp {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// Bytes one peer may read per turn before the io thread serves the others.
constexpr size_t kReadBudget = 16 * 1024 * 1024;
// How long a reader polls for the next segment of a payload it is receiving (or its trailer),
// where waiters spin. The sender is writing it: a gap is the sender losing its core for a
// moment, and a reader that sleeps through it is woken late (on the 2-core VM measured, 0.1 to
// 0.6 ms after the bytes came; with 50 us here a 4 MiB ping-pong parked several times per
// message).
constexpr int64_t kStreamSpinNs = 1'000'000;

// Polls `peer`, whose payload is streaming in, up to kStreamSpinNs for its next segment (bounded
// like any spin, SpinBudget); returns whether bytes were read.
bool nextSegmentRead(TcpPeer& peer) {
  SpinBudget spin(kStreamSpinNs);
  while (spin.next()) {
    if (peer.pollSmall(true) > 0) return true;
  }
  return false;
}

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
      chunkBytes_(options.chunkBytes) {
  connections_.resize(lanes_.size());
  bellFd_ = bell_->enableFdWake();
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
  // The bootstrap's io_context is not run again: the sockets stay registered with it (which
  // costs nothing while nobody waits on it) and the io loop watches them with its own set.
  std::vector<int> laneFds(lanes_.size(), -1);
  for (size_t lane = 0; lane < lanes_.size(); ++lane) {
    if (lanes_[lane]) laneFds[lane] = connections_[lane].socket->native_handle();
  }
  laneFds_ = laneFds;
  loop_ = std::make_unique<TcpIoLoop>(
      std::move(laneFds),
      TcpIoLoop::Handlers{[this](int lane) { return onReadable(lane); },
                          [this](int lane) { return lanes_[static_cast<size_t>(lane)]->flush(); }});
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
  auto wantWrite = [this, lane] { loop_->post([this, lane] { loop_->armWrite(lane); }); };
  auto wantRead = [this, lane] { loop_->post([this, lane] { loop_->armRead(lane); }); };
  auto peer =
      std::make_shared<TcpPeer>(rank_, r, conn.endpoint, conn.socket->native_handle(), bell_,
                                std::move(wantWrite), std::move(wantRead), options.checksum,
                                corruptStreamOf(options.reportCorruptStream, r, conn.endpoint),
                                static_cast<size_t>(r) < options.worldRanks.size()
                                    ? options.worldRanks[static_cast<size_t>(r)]
                                    : -1);
  if (streams_ > 1) {
    peer->setOnLost(
        [this, r](const Status& why) { loop_->post([this, r, why] { failPeer(r, why); }); });
  }
  return peer;
}

TcpTransport::~TcpTransport() {
  unregisterFaultSever(faultSeverId_);
  Status shutdown = makeStatus(Code::kAborted, "rank {}: tcp transport shut down", rank_);
  for (auto& lane : lanes_) {
    if (lane) lane->fail(shutdown, /*log=*/false);
  }
  // Joined before loop_ is cleared: the tasks the lanes posted (armRead, armWrite, failPeer)
  // reach the loop through loop_, and unique_ptr::reset clears it before the destructor runs.
  loop_->stop();
  loop_.reset();
  for (auto& conn : connections_) {
    if (!conn.socket) continue;
    boost::system::error_code ec;
    conn.socket->shutdown(tcp::socket::shutdown_both, ec);
    conn.socket->close(ec);
    conn.socket.reset();
  }
}

void TcpTransport::waitForActivity(uint32_t seenEpoch, std::chrono::microseconds timeout) {
  if (bellFd_ < 0 || !CpuContention::waitersSpin()) {
    loop_->reclaim();
    bell_->bell().wait(seenEpoch, timeout);
    return;
  }
  parkOnSockets(seenEpoch, timeout);
}

void TcpTransport::parkOnSockets(uint32_t seenEpoch, std::chrono::microseconds timeout) {
  if (timeout.count() <= 0) return;
  // A payload streaming in: its next segment is microseconds away, and sleeping between the
  // segments would make each one a wake-up (as for the io thread's reads, onReadable).
  if (awaitPayloadSegment()) return;
  thread_local std::vector<pollfd> fds;
  thread_local std::vector<size_t> laneOf;  // fds[i + 1] watches lane laneOf[i]
  fds.clear();
  laneOf.clear();
  fds.push_back({bellFd_, POLLIN, 0});
  for (size_t lane = 0; lane < lanes_.size(); ++lane) {
    if (lanes_[lane] && lanes_[lane]->readWatchable()) {
      fds.push_back({laneFds_[lane], POLLIN | POLLRDHUP, 0});
      laneOf.push_back(lane);
    }
  }
  loop_->callerParks();
  if (bell_->bell().beginFdWait(seenEpoch)) {
    const timespec ts{static_cast<time_t>(timeout.count() / 1000000),
                      static_cast<long>((timeout.count() % 1000000) * 1000)};
    ::ppoll(fds.data(), fds.size(), &ts, nullptr);
    bell_->bell().endFdWait();
  }
  loop_->callerWakes();
  // What woke this thread is read here: the lanes stay left to the callers, and not every
  // parked thread polls them afterwards (a coordinator waiting for a peer's go only tests its
  // requests), so bytes left unread would end every later park at once and never arrive. A
  // connection that ended or failed goes back to the io thread, which reads what is left and
  // closes it (a left lane is not on its epoll set).
  bool broken = false;
  for (size_t i = 1; i < fds.size(); ++i) {
    if ((fds[i].revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) != 0) {
      broken = true;
    } else if ((fds[i].revents & POLLIN) != 0) {
      lanes_[laneOf[i - 1]]->pollSmall(true);
    }
  }
  if (broken) loop_->reclaim();
}

bool TcpTransport::awaitPayloadSegment() {
  for (const auto& lane : lanes_) {
    if (lane && lane->receivingPayload()) return nextSegmentRead(*lane);
  }
  return false;
}

bool TcpTransport::pollIncoming() {
  // A peer whose connection ends here is closed by the io thread, whose wait on the socket
  // fires for the same end of stream (on a lane it left to the callers once that is watched
  // again: at a caller's park, or within the loop's slice).
  loop_->noteCallerPoll();
  // Waiters that spin move the bytes of what they wait for themselves, large payloads and
  // writes that wait for socket space too: handing them to the io thread costs a wake-up at
  // every turn, and on a small host that thread waits for a core the spinners hold. Where
  // waiters do not spin, only small reads are done here, and the io thread streams the rest.
  const bool spinning = CpuContention::waitersSpin();
  bool moved = false;
  for (size_t lane = 0; lane < lanes_.size(); ++lane) {
    if (!lanes_[lane]) continue;
    // A lane the io thread left to the callers is read whole here, large payloads too.
    const bool large = spinning || loop_->leftToCallers(static_cast<int>(lane));
    moved = lanes_[lane]->pollSmall(large) > 0 || moved;
    if (spinning) moved = lanes_[lane]->pollWrite() || moved;
  }
  return moved;
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
    if (!lane) continue;
    // What the peer sent on this stream before it went is still delivered: a peer that exits
    // right after its last send ends every stream, and the end of one may be seen first.
    while (lane->readAvailable(kReadBudget) == TcpPeer::ReadResult::kBudgetSpent) {
    }
    lane->fail(why);
  }
}

TcpIoLoop::Read TcpTransport::onReadable(int lane) {
  TcpPeer& peer = *lanes_[static_cast<size_t>(lane)];
  TcpPeer::ReadResult result = peer.readAvailable(kReadBudget);
  // A receive's payload is streaming in and the socket ran dry for a moment: poll for its next
  // segments rather than wait on epoll for each. Loopback and fast links deliver a large
  // payload a 64 KiB segment at a time, and a reader that sleeps between them makes each of
  // the sender's segments a wake-up (an interprocessor interrupt in a VM): in a 4 MiB
  // loopback ping-pong this thread woke about 30 times per message, and 3 with this poll.
  // Bounded like any spin (SpinBudget), and only where waiters spin.
  while (result == TcpPeer::ReadResult::kWouldBlock && CpuContention::waitersSpin() &&
         peer.receivingPayload() && nextSegmentRead(peer)) {
    result = peer.readAvailable(kReadBudget);
  }
  switch (result) {
    case TcpPeer::ReadResult::kWouldBlock:
      return TcpIoLoop::Read::kWouldBlock;
    case TcpPeer::ReadResult::kBudgetSpent:
      return TcpIoLoop::Read::kMore;
    case TcpPeer::ReadResult::kHeld:  // the peer's wantRead arms it again once it is released
      return TcpIoLoop::Read::kPaused;
    case TcpPeer::ReadResult::kClosed:
      break;
  }
  // The peer already failed its requests; closing takes the socket off the loop's set.
  boost::system::error_code ec;
  connections_[static_cast<size_t>(lane)].socket->close(ec);
  return TcpIoLoop::Read::kClosed;
}

}  // namespace kolo::tcp
