#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>

#include "tcp_world.h"
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
  wrongJob.send(tcp::encodeHello({1, kSize, "another-job"}));
  badRank.send(tcp::encodeHello({7, kSize, job}));
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
  size_t replySize = tcp::kHelloFixedSize + job.size();

  RawClient first(*address);
  first.send(tcp::encodeHello({1, 3, job}));
  auto reply = first.recvExact(replySize);
  ASSERT_EQ(reply, tcp::encodeHello({0, 3, job}));
  RawClient duplicate(*address);
  duplicate.send(tcp::encodeHello({1, 3, job}));
  EXPECT_TRUE(duplicate.closedByPeer());
  RawClient second(*address);
  second.send(tcp::encodeHello({2, 3, job}));
  ASSERT_EQ(second.recvExact(replySize), tcp::encodeHello({0, 3, job}));
  rank0.join();
  ASSERT_TRUE(r0) << r0.status().toString();

  // A frame rank 0 sends to rank 1 arrives on the first connection, header and payload intact.
  std::vector<std::byte> payload = patternBytes(5, 1);
  auto send = (*r0)->channel(1).postSend(0x42, payload);
  auto frame = first.recvExact(tcp::kFrameHeaderSize + payload.size());
  auto header = tcp::FrameEncoder::encodeHeader(0x42, payload.size());
  ASSERT_EQ(frame.size(), header.size() + payload.size());
  EXPECT_TRUE(std::equal(header.begin(), header.end(), frame.begin()));
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), frame.begin() + header.size()));
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
  auto hello = tcp::encodeHello({1, 2, job});
  half.send(std::span(hello).first(10));
  // Rank 0 is still waiting for rank 1, so only the timeout can close these.
  EXPECT_TRUE(silent.closedByPeer());
  EXPECT_TRUE(half.closedByPeer());
  auto r1 = connectTcpTransport(store, tcpSpec(1, 2, job), options);
  rank0.join();
  ASSERT_TRUE(r0) << r0.status().toString();
  ASSERT_TRUE(r1) << r1.status().toString();
}

}  // namespace
}  // namespace kolo::test
