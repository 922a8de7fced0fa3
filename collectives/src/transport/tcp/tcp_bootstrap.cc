#include "transport/tcp/tcp_bootstrap.h"

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <optional>

#include "kolo/base/logging.h"
#include "kolo/base/settings.h"
#include "transport/tcp/tcp_endpoint.h"
#include "transport/tcp/tcp_handshake.h"
#include "transport/tcp/tcp_transport.h"

namespace kolo {
namespace {

namespace asio = boost::asio;
namespace ip = boost::asio::ip;
using boost::system::error_code;
using tcp::Hello;
using tcp::TcpConnection;
using tcp::formatEndpoint;
using tcp::parseEndpoint;
using tcp::remoteName;

// Pause between attempts to reach a peer that refused or failed its hello.
constexpr auto kRetryDelay = std::chrono::milliseconds(50);
// How often the store is asked again for addresses not yet published.
constexpr auto kStorePollInterval = std::chrono::milliseconds(10);

// One connection in its hello phase, accepted (expectedPeer < 0) or initiated.
struct Handshake {
  explicit Handshake(asio::io_context& io) : socket(io), timer(io) {}
  ip::tcp::socket socket;
  asio::steady_timer timer;
  std::array<std::byte, tcp::kHelloFixedSize> fixed{};
  std::string jobIdBytes;
  std::vector<std::byte> out;
  Hello hello;              // the peer's
  Hello mine;               // ours, with this connection's fresh nonce
  tcp::HelloProof proof{};  // the peer's proof, as received
  std::string remote;
  int expectedPeer = -1;
  int stream = 0;  // initiated: which of the pair's connections this is
  ip::tcp::endpoint target;
  bool done = false;
};
using HandshakePtr = std::shared_ptr<Handshake>;

// The state of one rank's connection phase; everything runs on the caller's thread inside
// io.run_one_for(), so no locking.
struct Bootstrap : std::enable_shared_from_this<Bootstrap> {
  Bootstrap(asio::io_context& ioc, const WorldSpec& s, const TcpOptions& o)
      : io(ioc),
        spec(s),
        options(o),
        acceptor(ioc),
        connections(static_cast<size_t>(s.size) * static_cast<size_t>(o.streams)),
        lastFailure(static_cast<size_t>(s.size)) {}

  asio::io_context& io;
  WorldSpec spec;
  TcpOptions options;
  ip::tcp::acceptor acceptor;
  std::vector<TcpConnection> connections;  // [peer * options.streams + stream]
  std::vector<std::string> lastFailure;  // why the last attempt to reach each lower rank failed
  std::vector<HandshakePtr> live;
  std::vector<std::shared_ptr<asio::steady_timer>> retries;
  int connected = 0;
  bool finished = false;

  std::chrono::milliseconds handshakeTimeout() const {
    return std::chrono::milliseconds(
        std::max<int64_t>(1, static_cast<int64_t>(options.handshakeTimeoutSeconds * 1000)));
  }

  HandshakePtr track(HandshakePtr hs) {
    std::erase_if(live, [](const HandshakePtr& h) { return h->done; });
    live.push_back(hs);
    return hs;
  }

  static void close(Handshake& hs) {
    hs.done = true;
    error_code ec;
    hs.timer.cancel(ec);
    hs.socket.close(ec);
  }

  void startAccept() {
    auto hs = track(std::make_shared<Handshake>(io));
    acceptor.async_accept(hs->socket, [self = shared_from_this(), hs](const error_code& ec) {
      if (self->finished) return;
      if (ec) {
        // e.g. out of descriptors: keep listening, but do not spin on a persistent error.
        KOLO_LOG(kWarning, "tcp", "rank {}: accept failed: {}", self->spec.rank, ec.message());
        hs->done = true;
        self->later([self] { self->startAccept(); });
        return;
      }
      hs->remote = remoteName(hs->socket);
      self->armTimer(hs);
      self->readHello(hs, [self, hs] { self->onAcceptedHello(hs); });
      self->startAccept();
    });
  }

  void armTimer(const HandshakePtr& hs) {
    hs->timer.expires_after(handshakeTimeout());
    hs->timer.async_wait([self = shared_from_this(), hs](const error_code& ec) {
      if (ec || hs->done || self->finished) return;
      self->failHandshake(hs, fmt::format("no complete hello within {:.3g} s",
                                          self->options.handshakeTimeoutSeconds));
    });
  }

  // Rejects an accepted connection (logged, the job keeps waiting) or retries a connect.
  void failHandshake(const HandshakePtr& hs, const std::string& why) {
    if (hs->done) return;
    close(*hs);
    if (hs->expectedPeer < 0) {
      KOLO_LOG(kWarning, "tcp", "rank {}: dropped tcp connection from {}: {}", spec.rank,
               hs->remote, why);
      return;
    }
    KOLO_LOG(kDebug, "tcp", "rank {}: connecting to rank {} at {} failed ({}); retrying", spec.rank,
             hs->expectedPeer, hs->remote, why);
    lastFailure[static_cast<size_t>(hs->expectedPeer)] = why;
    later([self = shared_from_this(), peer = hs->expectedPeer, stream = hs->stream,
           target = hs->target,
           remote = hs->remote] { self->startConnect(peer, stream, target, remote); });
  }

  // Runs `fn` after kRetryDelay unless the connection phase finished by then.
  void later(std::function<void()> fn) {
    auto timer = std::make_shared<asio::steady_timer>(io, kRetryDelay);
    std::erase_if(retries, [](const auto& t) { return t.use_count() == 1; });
    retries.push_back(timer);
    timer->async_wait([self = shared_from_this(), timer, fn = std::move(fn)](const error_code& ec) {
      if (!ec && !self->finished) fn();
    });
  }

  // Reads a hello in three steps: the prefix (checked at once), the rest of the fixed part,
  // and the job id it announces.
  void readHello(const HandshakePtr& hs, const std::function<void()>& then) {
    auto prefix = asio::buffer(hs->fixed.data(), tcp::kHelloPrefixSize);
    asio::async_read(
        hs->socket, prefix, [self = shared_from_this(), hs, then](const error_code& ec, size_t) {
          if (hs->done || self->finished) return;
          if (ec) return self->failHandshake(hs, "closed before its hello: " + ec.message());
          Status ok =
              tcp::checkHelloPrefix(std::span(hs->fixed).first(tcp::kHelloPrefixSize), hs->remote);
          if (!ok.isOk()) return self->failHandshake(hs, ok.message());
          self->readHelloRest(hs, then);
        });
  }

  void readHelloRest(const HandshakePtr& hs, const std::function<void()>& then) {
    auto rest = asio::buffer(hs->fixed.data() + tcp::kHelloPrefixSize,
                             tcp::kHelloFixedSize - tcp::kHelloPrefixSize);
    asio::async_read(hs->socket, rest,
                     [self = shared_from_this(), hs, then](const error_code& ec, size_t) {
                       if (hs->done || self->finished) return;
                       if (ec)
                         return self->failHandshake(hs, "closed during its hello: " + ec.message());
                       auto length = tcp::decodeHelloFixed(hs->fixed, hs->hello, hs->remote);
                       if (!length) return self->failHandshake(hs, length.status().message());
                       hs->jobIdBytes.assign(*length, '\0');
                       asio::async_read(hs->socket, asio::buffer(hs->jobIdBytes),
                                        [self, hs, then](const error_code& ec2, size_t) {
                                          if (hs->done || self->finished) return;
                                          if (ec2) {
                                            return self->failHandshake(
                                                hs, "closed during its hello: " + ec2.message());
                                          }
                                          hs->hello.jobId = hs->jobIdBytes;
                                          then();
                                        });
                     });
  }

  size_t slotOf(int peer, int stream) const {
    return static_cast<size_t>(peer) * static_cast<size_t>(options.streams) +
           static_cast<size_t>(stream);
  }
  TcpConnection& slot(int peer, int stream) { return connections[slotOf(peer, stream)]; }
  bool isConnected(int peer, int stream) const {
    return connections[slotOf(peer, stream)].socket != nullptr;
  }
  // Every stream of the pair is connected.
  bool isConnected(int peer) const {
    for (int s = 0; s < options.streams; ++s) {
      if (!isConnected(peer, s)) return false;
    }
    return true;
  }
  // The stream an accepted hello names, when this end keeps that many (the stream count
  // itself is checked once the peer proved the secret, so it can be told why).
  bool streamInRange(const tcp::Hello& hello) const {
    return hello.stream >= 0 && hello.stream < options.streams;
  }

  void onAcceptedHello(const HandshakePtr& hs) {
    // Only higher ranks connect to this one.
    Status valid = tcp::validateHello(hs->hello, spec.jobId, spec.size, spec.rank + 1,
                                      spec.size - 1, hs->remote);
    if (!valid.isOk()) return failHandshake(hs, valid.message());
    if (streamInRange(hs->hello) && isConnected(hs->hello.rank, hs->hello.stream)) {
      return failHandshake(hs, fmt::format("claims rank {} stream {}, which is already connected",
                                           hs->hello.rank, hs->hello.stream));
    }
    hs->mine = ownHello(streamInRange(hs->hello) ? hs->hello.stream : 0);
    sendHello(hs, tcp::proveHello(spec.secret, tcp::HelloRole::kAcceptor, hs->hello, hs->mine),
              [self = shared_from_this(), hs] {
                self->readProof(hs, [self, hs] { self->onConnectorProof(hs); });
              });
  }

  // The acceptor's side: the connector proved the secret, agrees on the flags, and its rank is
  // still free.
  void onConnectorProof(const HandshakePtr& hs) {
    const int peer = hs->hello.rank;
    const tcp::HelloProof expected =
        tcp::proveHello(spec.secret, tcp::HelloRole::kConnector, hs->hello, hs->mine);
    if (!tcp::proofMatches(hs->proof, expected)) {
      return failHandshake(
          hs, fmt::format("claims rank {} but did not prove the job secret (KOLO_SECRET)", peer));
    }
    Status flags = tcp::validateHelloFlags(hs->hello, hs->mine.flags, hs->remote);
    if (flags.isOk()) {
      flags = tcp::validateHelloStreams(hs->hello, options.streams, -1, hs->remote);
    }
    if (!flags.isOk()) {
      lastFailure[static_cast<size_t>(peer)] = flags.message();
      return failHandshake(hs, flags.message());
    }
    if (isConnected(peer, hs->hello.stream)) {
      return failHandshake(hs, fmt::format("claims rank {} stream {}, which is already connected",
                                           peer, hs->hello.stream));
    }
    adopt(hs, peer, hs->hello.stream);
  }

  Hello ownHello(int stream) const {
    Hello hello{spec.rank, spec.size, spec.jobId, tcp::freshNonce()};
    hello.flags = options.checksum ? tcp::kHelloFlagChecksum : 0;
    hello.streams = options.streams;
    hello.stream = stream;
    return hello;
  }

  // Sends hs->mine, followed by `proof` when one is given (the acceptor's answer).
  void sendHello(const HandshakePtr& hs, std::optional<tcp::HelloProof> proof,
                 const std::function<void()>& then) {
    hs->out = tcp::encodeHello(hs->mine);
    if (proof) hs->out.insert(hs->out.end(), proof->begin(), proof->end());
    sendOut(hs, "hello", then);
  }

  void sendProof(const HandshakePtr& hs, const tcp::HelloProof& proof,
                 const std::function<void()>& then) {
    hs->out.assign(proof.begin(), proof.end());
    sendOut(hs, "proof", then);
  }

  void readProof(const HandshakePtr& hs, const std::function<void()>& then) {
    asio::async_read(hs->socket, asio::buffer(hs->proof),
                     [self = shared_from_this(), hs, then](const error_code& ec, size_t) {
                       if (hs->done || self->finished) return;
                       if (ec)
                         return self->failHandshake(hs, "closed before its proof: " + ec.message());
                       then();
                     });
  }

  void sendOut(const HandshakePtr& hs, const char* what, const std::function<void()>& then) {
    asio::async_write(hs->socket, asio::buffer(hs->out),
                      [self = shared_from_this(), hs, what, then](const error_code& ec, size_t) {
                        if (hs->done || self->finished) return;
                        if (ec) {
                          return self->failHandshake(
                              hs, fmt::format("{} not sent: {}", what, ec.message()));
                        }
                        then();
                      });
  }

  void adopt(const HandshakePtr& hs, int peer, int stream) {
    hs->done = true;
    error_code ec;
    hs->timer.cancel(ec);
    TcpConnection& conn = slot(peer, stream);
    conn.peer = peer;
    conn.stream = stream;
    conn.endpoint = hs->remote;
    conn.socket = std::make_unique<ip::tcp::socket>(std::move(hs->socket));
    ++connected;
    KOLO_LOG(kDebug, "tcp", "rank {}: connected to rank {} stream {} ({})", spec.rank, peer, stream,
             hs->remote);
  }

  void startConnect(int peer, int stream, const ip::tcp::endpoint& target,
                    const std::string& name) {
    auto hs = track(std::make_shared<Handshake>(io));
    hs->expectedPeer = peer;
    hs->stream = stream;
    hs->target = target;
    hs->remote = name;
    armTimer(hs);
    hs->socket.async_connect(target, [self = shared_from_this(), hs](const error_code& ec) {
      if (hs->done || self->finished) return;
      if (ec) return self->failHandshake(hs, ec.message());
      hs->mine = self->ownHello(hs->stream);
      self->sendHello(hs, std::nullopt, [self, hs] {
        self->readHello(hs, [self, hs] { self->onAcceptorHello(hs); });
      });
    });
  }

  // The connector's side: the acceptor's hello names the expected rank and its proof checks
  // out; then this end proves itself and the connection is ready.
  void onAcceptorHello(const HandshakePtr& hs) {
    const int peer = hs->expectedPeer;
    Status valid = tcp::validateHello(hs->hello, spec.jobId, spec.size, peer, peer, hs->remote);
    if (!valid.isOk()) return failHandshake(hs, valid.message());
    readProof(hs, [self = shared_from_this(), hs, peer] {
      const tcp::HelloProof expected =
          tcp::proveHello(self->spec.secret, tcp::HelloRole::kAcceptor, hs->mine, hs->hello);
      if (!tcp::proofMatches(hs->proof, expected)) {
        return self->failHandshake(
            hs, fmt::format("rank {} at {} did not prove the job secret (KOLO_SECRET)", peer,
                            hs->remote));
      }
      // Proven to each other, so each side can tell the other why the flags make it refuse.
      self->sendProof(
          hs, tcp::proveHello(self->spec.secret, tcp::HelloRole::kConnector, hs->mine, hs->hello),
          [self, hs, peer] {
            Status flags = tcp::validateHelloFlags(hs->hello, hs->mine.flags, hs->remote);
            if (flags.isOk()) {
              flags = tcp::validateHelloStreams(hs->hello, self->options.streams, hs->stream,
                                                hs->remote);
            }
            if (!flags.isOk()) return self->failHandshake(hs, flags.message());
            self->adopt(hs, peer, hs->stream);
          });
    });
  }

  void finish() {
    finished = true;
    error_code ec;
    acceptor.close(ec);
    for (auto& hs : live) {
      if (!hs->done) close(*hs);
    }
    live.clear();
    for (auto& t : retries) t->cancel(ec);
    retries.clear();
    // Run the aborted handlers now so none is left holding this state on the io_context.
    io.restart();
    io.poll();
  }
};

// Binds spec.bindAddress (127.0.0.1 when empty) on an ephemeral port, publishes "addr:port"
// in the store and starts accepting hellos.
Status listenAndPublish(Bootstrap& boot, KvStore& store, const WorldSpec& spec) {
  std::string bindText = spec.bindAddress.empty() ? "127.0.0.1" : spec.bindAddress;
  error_code ec;
  ip::address bindAddress = ip::make_address(bindText, ec);
  if (ec) {
    return makeStatus(Code::kInvalidArgument,
                      "tcp transport: bind address '{}' is not an IP "
                      "address: {}",
                      bindText, ec.message());
  }
  ip::tcp::endpoint listenAt(bindAddress, 0);
  boot.acceptor.open(listenAt.protocol(), ec);
  if (!ec) boot.acceptor.set_option(ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) boot.acceptor.bind(listenAt, ec);
  if (!ec) boot.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  ip::tcp::endpoint local;
  if (!ec) local = boot.acceptor.local_endpoint(ec);
  if (ec) {
    return makeStatus(Code::kIoError, "rank {}: cannot listen on {}: {}", spec.rank, bindText,
                      ec.message());
  }
  std::string published = formatEndpoint(local.address(), local.port());
  KOLO_RETURN_IF_ERROR(store.set(tcpAddressKey(spec.jobId, spec.rank), published)
                           .withContext(fmt::format("rank {}: publishing tcp address", spec.rank)));
  boot.startAccept();
  return Status::ok();
}

// Connects to every lower rank as its address appears in the store while serving the hellos
// of higher ranks, so a rank waiting for rank 0 to publish never leaves them unanswered.
// Returns when every peer is connected or the deadline passes; addressKnown[p] tells which
// lower ranks had published by then.
Status connectPeers(Bootstrap& boot, KvStore& store, const WorldSpec& spec, Deadline deadline,
                    std::vector<bool>& addressKnown) {
  addressKnown.assign(static_cast<size_t>(spec.rank), false);
  int unknown = spec.rank;
  const int wanted = (spec.size - 1) * boot.options.streams;
  while (boot.connected < wanted && !deadline.expired()) {
    for (int p = 0; p < spec.rank && unknown > 0; ++p) {
      if (addressKnown[static_cast<size_t>(p)]) continue;
      auto value = store.get(tcpAddressKey(spec.jobId, p), Deadline::after(Clock::duration(0)));
      if (!value) {
        if (value.status().code() == Code::kTimeout) continue;
        return value.status().withContext(
            fmt::format("rank {}: reading rank {}'s tcp address", spec.rank, p));
      }
      KOLO_ASSIGN_OR_RETURN(ip::tcp::endpoint target, parseEndpoint(*value, p));
      addressKnown[static_cast<size_t>(p)] = true;
      --unknown;
      for (int s = 0; s < boot.options.streams; ++s) boot.startConnect(p, s, target, *value);
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline.remaining());
    wait = std::min<std::chrono::milliseconds>(
        wait, unknown > 0 ? kStorePollInterval : std::chrono::milliseconds(100));
    if (boot.io.stopped()) boot.io.restart();
    boot.io.run_one_for(wait);
  }
  return Status::ok();
}

// "1, 3 (never published its address)": the peers still unconnected after the deadline.
std::string missingPeers(const Bootstrap& boot, const WorldSpec& spec,
                         const std::vector<bool>& addressKnown) {
  std::string missing;
  for (int p = 0; p < spec.size; ++p) {
    if (p == spec.rank || boot.isConnected(p)) continue;
    if (!missing.empty()) missing += ", ";
    missing += std::to_string(p);
    if (p < spec.rank && !addressKnown[static_cast<size_t>(p)]) {
      missing += " (never published its address)";
    } else if (!boot.lastFailure[static_cast<size_t>(p)].empty()) {
      missing += " (last attempt: " + boot.lastFailure[static_cast<size_t>(p)] + ")";
    }
  }
  return missing;
}

}  // namespace

std::string tcpAddressKey(const std::string& jobId, int rank) {
  return fmt::format("kolo/{}/tcp/{}", jobId, rank);
}

Expected<std::shared_ptr<Transport>> connectTcpTransport(KvStore& store, const WorldSpec& spec) {
  return connectTcpTransport(store, spec, tcpOptionsFromEnv());
}

Expected<std::shared_ptr<Transport>> connectTcpTransport(KvStore& store, const WorldSpec& spec,
                                                         const TcpOptions& given) {
  TcpOptions options = given;
  if (!options.reportCorruptStream) options.reportCorruptStream = corruptStreamPublisher(spec);
  if (options.worldRanks.empty()) options.worldRanks = spec.globalRanks;
  if (spec.size < 1 || spec.rank < 0 || spec.rank >= spec.size) {
    return makeStatus(Code::kInvalidArgument, "tcp transport: rank {} is not in a world of size {}",
                      spec.rank, spec.size);
  }
  Deadline deadline = Deadline::afterSeconds(spec.connectTimeoutSeconds);
  auto io = std::make_unique<asio::io_context>(1);
  if (spec.size == 1) {
    return std::shared_ptr<Transport>(std::make_shared<tcp::TcpTransport>(
        spec.rank, spec.size, std::move(io), std::vector<TcpConnection>{}, options));
  }
  auto boot = std::make_shared<Bootstrap>(*io, spec, options);
  KOLO_RETURN_IF_ERROR(listenAndPublish(*boot, store, spec));
  std::vector<bool> addressKnown;
  Status connecting = connectPeers(*boot, store, spec, deadline, addressKnown);
  boot->finish();
  KOLO_RETURN_IF_ERROR(connecting);
  if (boot->connected < (spec.size - 1) * options.streams) {
    return makeStatus(
        Code::kTimeout,
        "rank {}: tcp connect timed out after {:.3g} s; no connection with rank(s) {}", spec.rank,
        spec.connectTimeoutSeconds, missingPeers(*boot, spec, addressKnown));
  }
  return std::shared_ptr<Transport>(std::make_shared<tcp::TcpTransport>(
      spec.rank, spec.size, std::move(io), std::move(boot->connections), options));
}

}  // namespace kolo
