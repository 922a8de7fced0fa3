#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>

#include "tcp_world.h"
#include "transport/tcp/crc32c.h"
#include "transport/tcp/frame_codec.h"
#include "transport/tcp/tcp_handshake.h"

namespace kolo::test {
namespace {

// A raw client socket to a published "127.0.0.1:port", standing in for a stranger.
class RawClient {
 public:
  explicit RawClient(const std::string& address) {
    auto colon = address.rfind(':');
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
    inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};  // a read that never ends fails the test instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  void send(std::span<const std::byte> bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  // True when the other end closed the connection (EOF or reset); data before that is skipped.
  bool closedByPeer() {
    char c[256];
    for (;;) {
      ssize_t n = ::recv(fd_, c, sizeof(c), 0);
      if (n > 0) continue;
      return n == 0 || (n < 0 && errno == ECONNRESET);
    }
  }
  // Reads exactly n bytes; fails the test (empty result) on EOF, error or the 10 s timeout.
  std::vector<std::byte> recvExact(size_t n) {
    std::vector<std::byte> out(n);
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::recv(fd_, out.data() + got, n - got, 0);
      if (r <= 0) {
        ADD_FAILURE() << "connection ended after " << got << " of " << n << " bytes";
        return {};
      }
      got += static_cast<size_t>(r);
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// Plays the connector's side of the handshake for `rank` on a raw socket: sends its hello,
// reads the acceptor's hello and proof, checks that proof under `secret`, and answers with its
// own proof (or with `forgedProof` when given).
struct StandIn {
  RawClient client;
  tcp::Hello mine;
  tcp::Hello theirs;
  bool acceptorProved = false;

  StandIn(const std::string& address, int rank, int size, const std::string& job)
      : client(address), mine{rank, size, job, tcp::freshNonce(), tcp::kHelloFlagChecksum} {}

  void hello() { client.send(tcp::encodeHello(mine)); }
  // Reads the acceptor's answer (its hello, then its proof) and checks the proof.
  void readAnswer(const std::string& secret) {
    auto bytes = client.recvExact(tcp::kHelloFixedSize + mine.jobId.size() + tcp::kProofSize);
    ASSERT_FALSE(bytes.empty());
    auto length = tcp::decodeHelloFixed(std::span(bytes).first(tcp::kHelloFixedSize), theirs, "0");
    ASSERT_TRUE(length) << length.status().toString();
    theirs.jobId.assign(reinterpret_cast<const char*>(bytes.data()) + tcp::kHelloFixedSize,
                        *length);
    tcp::HelloProof proof{};
    std::copy(bytes.end() - tcp::kProofSize, bytes.end(), proof.begin());
    acceptorProved =
        tcp::proofMatches(proof, tcp::proveHello(secret, tcp::HelloRole::kAcceptor, mine, theirs));
  }
  void prove(const std::string& secret) {
    client.send(tcp::proveHello(secret, tcp::HelloRole::kConnector, mine, theirs));
  }
  void handshake(const std::string& secret) {
    hello();
    readAnswer(secret);
    prove(secret);
  }
};

TEST(TcpBootstrap, OptionsFromEnvironment) {
  ::setenv("KOLO_TCP_SOCKET_BUFFER", "2M", 1);
  ::setenv("KOLO_TCP_HANDSHAKE_TIMEOUT", "0.75", 1);
  TcpOptions set = tcpOptionsFromEnv();
  EXPECT_EQ(set.socketBufferBytes, 2 << 20);
  EXPECT_DOUBLE_EQ(set.handshakeTimeoutSeconds, 0.75);
  ::setenv("KOLO_TCP_SOCKET_BUFFER", "lots", 1);
  EXPECT_EQ(tcpOptionsFromEnv().socketBufferBytes, TcpOptions{}.socketBufferBytes);
  ::unsetenv("KOLO_TCP_SOCKET_BUFFER");
  ::unsetenv("KOLO_TCP_HANDSHAKE_TIMEOUT");
  EXPECT_DOUBLE_EQ(tcpOptionsFromEnv().handshakeTimeoutSeconds, 5.0);
}

TEST(TcpBootstrap, SingleRankNeedsNoPeers) {
  MemoryStore store;
  auto t = connectTcpTransport(store, tcpSpec(0, 1, uniqueJobId("one")));
  ASSERT_TRUE(t) << t.status().toString();
  EXPECT_EQ((*t)->size(), 1);
}

TEST(TcpBootstrap, RankOutsideWorldIsInvalidArgument) {
  MemoryStore store;
  auto t = connectTcpTransport(store, tcpSpec(3, 3, "x"));
  ASSERT_FALSE(t);
  EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
}

TEST(TcpBootstrap, MissingRanksAreNamedInTheTimeout) {
  MemoryStore store;
  std::string job = uniqueJobId("missing");
  // Ranks 0 and 1 of 4 start; 2 and 3 never do.
  Expected<std::shared_ptr<Transport>> r0 = makeStatus(Code::kInternal, "not run");
  std::thread rank0([&] { r0 = connectTcpTransport(store, tcpSpec(0, 4, job, 0.5)); });
  auto r1 = connectTcpTransport(store, tcpSpec(1, 4, job, 0.5));
  rank0.join();
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.status().code(), Code::kTimeout);
  EXPECT_NE(r1.status().message().find("rank(s) 2, 3"), std::string::npos) << r1.status().message();
  ASSERT_FALSE(r0);
  EXPECT_NE(r0.status().message().find("rank(s) 2, 3"), std::string::npos) << r0.status().message();
}

TEST(TcpBootstrap, UnpublishedLowerRankIsNamed) {
  MemoryStore store;
  auto r1 = connectTcpTransport(store, tcpSpec(1, 2, uniqueJobId("nobody"), 0.3));
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.status().code(), Code::kTimeout);
  EXPECT_NE(r1.status().message().find("0 (never published its address)"), std::string::npos)
      << r1.status().message();
}

// Strangers reach rank 0's port before the real peers: one speaks HTTP, one says hello with
// another job id, one claims a rank outside the world, one connects and says nothing. The job
// must still connect and work, and the misbehaving connections are closed.
TEST(TcpBootstrap, StrangersBeforeTheRealPeersDoNotBreakTheJob) {
  MemoryStore store;
  std::string job = uniqueJobId("strangers");
  constexpr int kSize = 3;
  TcpOptions options;
  options.handshakeTimeoutSeconds = 0.5;
  std::vector<Expected<std::shared_ptr<Transport>>> results(
      kSize, Expected<std::shared_ptr<Transport>>(makeStatus(Code::kInternal, "not run")));
  std::thread rank0(
      [&] { results[0] = connectTcpTransport(store, tcpSpec(0, kSize, job), options); });
  auto address = store.get(tcpAddressKey(job, 0), Deadline::afterSeconds(10));
  ASSERT_TRUE(address) << address.status().toString();

  RawClient garbage(*address), wrongJob(*address), badRank(*address), silent(*address);
  ASSERT_TRUE(garbage.connected() && wrongJob.connected() && badRank.connected() &&
              silent.connected());
  std::string http = "GET / HTTP/1.1\r\nHost: kolo\r\n\r\n";
  garbage.send(std::as_bytes(std::span(http)));
  wrongJob.send(tcp::encodeHello({1, kSize, "another-job", tcp::freshNonce()}));
  badRank.send(tcp::encodeHello({7, kSize, job, tcp::freshNonce()}));
  EXPECT_TRUE(garbage.closedByPeer());
  EXPECT_TRUE(wrongJob.closedByPeer());
  EXPECT_TRUE(badRank.closedByPeer());

  std::vector<std::thread> others;
  for (int r = 1; r < kSize; ++r) {
    others.emplace_back(
        [&, r] { results[r] = connectTcpTransport(store, tcpSpec(r, kSize, job), options); });
  }
  rank0.join();
  for (auto& t : others) t.join();
  EXPECT_TRUE(silent.closedByPeer());
  std::vector<std::shared_ptr<Transport>> world;
  for (int r = 0; r < kSize; ++r) {
    ASSERT_TRUE(results[r]) << "rank " << r << ": " << results[r].status().toString();
    world.push_back(*results[r]);
  }
  auto statuses = runRanks(world, [&](int rank, Communicator& comm) -> Status {
    std::vector<std::vector<std::byte>> ins(kSize, std::vector<std::byte>(16));
    auto out = patternBytes(16, static_cast<uint32_t>(rank));
    std::vector<TransferRequestPtr> reqs;
    for (int p = 0; p < kSize; ++p) {
      if (p == rank) continue;
      reqs.push_back(comm.peer(p).postSend(1, out));
      reqs.push_back(comm.peer(p).postRecv(1, ins[p]));
    }
    KOLO_RETURN_IF_ERROR(comm.waitAll(reqs));
    for (int p = 0; p < kSize; ++p) {
      if (p != rank && ins[p] != patternBytes(16, static_cast<uint32_t>(p))) {
        return makeStatus(Code::kInternal, "rank {} got wrong bytes from {}", rank, p);
      }
    }
    return Status::ok();
  });
  for (auto& s : statuses) EXPECT_TRUE(s.isOk()) << s.toString();
}

// Stand-ins speak the hello for ranks 1 and 2 of a world of 3; a second connection claiming
// rank 1 is dropped, and rank 0's transport then talks to the first one.
TEST(TcpBootstrap, SecondConnectionClaimingAConnectedRankIsDropped) {
  MemoryStore store;
  std::string job = uniqueJobId("duplicate");
  Expected<std::shared_ptr<Transport>> r0 = makeStatus(Code::kInternal, "not run");
  std::thread rank0([&] { r0 = connectTcpTransport(store, tcpSpec(0, 3, job)); });
  auto address = store.get(tcpAddressKey(job, 0), Deadline::afterSeconds(10));
  ASSERT_TRUE(address) << address.status().toString();

  StandIn first(*address, 1, 3, job);
  first.handshake(kTestSecret);
  EXPECT_TRUE(first.acceptorProved);
  EXPECT_EQ(first.theirs.rank, 0);
  StandIn duplicate(*address, 1, 3, job);
  duplicate.hello();
  EXPECT_TRUE(duplicate.client.closedByPeer());
  StandIn second(*address, 2, 3, job);
  second.handshake(kTestSecret);
  EXPECT_TRUE(second.acceptorProved);
  EXPECT_NE(first.theirs.nonce, second.theirs.nonce) << "a nonce was reused";
  rank0.join();
  ASSERT_TRUE(r0) << r0.status().toString();
  RawClient& firstClient = first.client;

  // A frame rank 0 sends to rank 1 arrives on the first connection, header and payload intact.
  std::vector<std::byte> payload = patternBytes(5, 1);
  auto send = (*r0)->channel(1).postSend(0x42, payload);
  auto frame =
      firstClient.recvExact(tcp::kFrameHeaderSize + payload.size() + tcp::kFrameTrailerSize);
  auto header = tcp::FrameEncoder::encodeHeader(0x42, payload.size());
  auto trailer = tcp::FrameEncoder::encodeTrailer(tcp::crc32c(payload));
  ASSERT_EQ(frame.size(), header.size() + payload.size() + trailer.size());
  EXPECT_TRUE(std::equal(header.begin(), header.end(), frame.begin()));
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), frame.begin() + header.size()));
  EXPECT_TRUE(std::equal(trailer.begin(), trailer.end(), frame.end() - trailer.size()));
  EXPECT_TRUE(send->test());
}

// Connections that say nothing, or stop halfway through their hello, are dropped after the
// handshake timeout while the rank keeps waiting; the real peer connects afterwards.
TEST(TcpBootstrap, SilentAndHalfHelloConnectionsAreDroppedAfterTheHandshakeTimeout) {
  MemoryStore store;
  std::string job = uniqueJobId("timeouts");
  TcpOptions options;
  options.handshakeTimeoutSeconds = 0.2;
  Expected<std::shared_ptr<Transport>> r0 = makeStatus(Code::kInternal, "not run");
  std::thread rank0([&] { r0 = connectTcpTransport(store, tcpSpec(0, 2, job), options); });
  auto address = store.get(tcpAddressKey(job, 0), Deadline::afterSeconds(10));
  ASSERT_TRUE(address) << address.status().toString();
  RawClient silent(*address), half(*address);
  ASSERT_TRUE(silent.connected() && half.connected());
  auto hello = tcp::encodeHello({1, 2, job, tcp::freshNonce()});
  half.send(std::span(hello).first(30));
  // Rank 0 is still waiting for rank 1, so only the timeout can close these.
  EXPECT_TRUE(silent.closedByPeer());
  EXPECT_TRUE(half.closedByPeer());
  auto r1 = connectTcpTransport(store, tcpSpec(1, 2, job), options);
  rank0.join();
  ASSERT_TRUE(r0) << r0.status().toString();
  ASSERT_TRUE(r1) << r1.status().toString();
}

// Rank 0 of a world of two, connecting on its own thread, its published address at hand.
struct ListeningRankZero {
  MemoryStore store;
  std::string job;
  Expected<std::shared_ptr<Transport>> r0 = makeStatus(Code::kInternal, "not run");
  std::string address;
  std::thread thread;

  explicit ListeningRankZero(const std::string& name, double timeout = 10.0)
      : job(uniqueJobId(name)) {
    thread = std::thread(
        [this, timeout] { r0 = connectTcpTransport(store, tcpSpec(0, 2, job, timeout)); });
    auto published = store.get(tcpAddressKey(job, 0), Deadline::afterSeconds(10));
    if (published) {
      address = *published;
    } else {
      ADD_FAILURE() << published.status().toString();
    }
  }
  ~ListeningRankZero() { join(); }
  void join() {
    if (thread.joinable()) thread.join();
  }
  // The real rank 1 joins after whatever came before it: both ends connect.
  void expectRealRankOneConnects() {
    auto r1 = connectTcpTransport(store, tcpSpec(1, 2, job));
    join();
    EXPECT_TRUE(r0) << r0.status().toString();
    EXPECT_TRUE(r1) << r1.status().toString();
  }
};

// A process that knows the job id (it is not a secret) but not KOLO_SECRET gets nowhere: rank 0
// does not accept it as rank 1, and it can tell that rank 0's proof is not under its key. The
// real rank 1 then joins.
TEST(TcpBootstrap, KnowingTheJobIdWithoutTheSecretIsRefused) {
  ListeningRankZero zero("nosecret");
  StandIn impostor(zero.address, 1, 2, zero.job);
  impostor.handshake(std::string(32, 'g'));
  EXPECT_FALSE(impostor.acceptorProved);
  EXPECT_TRUE(impostor.client.closedByPeer());
  zero.expectRealRankOneConnects();
}

// A hello and proof that were valid on another connection (captured, or from another job run
// with the same secret) are refused: rank 0's fresh nonce is not the one they were made for.
TEST(TcpBootstrap, AReplayedHelloAndProofAreRefused) {
  ListeningRankZero zero("replay");
  // What rank 1 sent on an earlier connection whose acceptor used another nonce.
  const tcp::Hello recordedConnector{1, 2, zero.job, tcp::freshNonce()};
  const tcp::Hello earlierAcceptor{0, 2, zero.job, tcp::freshNonce()};
  const tcp::HelloProof recordedProof =
      tcp::proveHello(kTestSecret, tcp::HelloRole::kConnector, recordedConnector, earlierAcceptor);
  RawClient replay(zero.address);
  replay.send(tcp::encodeHello(recordedConnector));
  ASSERT_FALSE(replay.recvExact(tcp::kHelloFixedSize + zero.job.size() + tcp::kProofSize).empty());
  replay.send(recordedProof);
  EXPECT_TRUE(replay.closedByPeer());
  zero.expectRealRankOneConnects();
}

// Two real ranks that hold different secrets never connect; the timeout says why.
TEST(TcpBootstrap, RanksWithDifferentSecretsFailNamingTheSecret) {
  ListeningRankZero zero("twosecrets", 1.0);
  WorldSpec other = tcpSpec(1, 2, zero.job, 1.0);
  other.secret = std::string(32, 'x');
  auto r1 = connectTcpTransport(zero.store, other);
  zero.join();
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.status().code(), Code::kTimeout);
  EXPECT_NE(r1.status().message().find("did not prove the job secret (KOLO_SECRET)"),
            std::string::npos)
      << r1.status().message();
  ASSERT_FALSE(zero.r0);
  EXPECT_EQ(zero.r0.status().code(), Code::kTimeout);
}

// Ranks that disagree on KOLO_TCP_CHECKSUM would misread each other's frames: they never
// connect, and both say why.
TEST(TcpBootstrap, RanksWithDifferentChecksumSettingsFailNamingIt) {
  ListeningRankZero zero("checksums", 1.0);
  TcpOptions none;
  none.checksum = false;
  auto r1 = connectTcpTransport(zero.store, tcpSpec(1, 2, zero.job, 1.0), none);
  zero.join();
  for (auto* r : {&zero.r0, &r1}) {
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->status().code(), Code::kTimeout);
    EXPECT_NE(r->status().message().find("KOLO_TCP_CHECKSUM"), std::string::npos)
        << r->status().message();
  }
}

}  // namespace
}  // namespace kolo::test
