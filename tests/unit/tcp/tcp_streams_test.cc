// KOLO_TCP_STREAMS: several connections per peer pair, large messages striped over them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "kolo/base/fault_injection.h"
#include "tcp_world.h"
#include "transport/tcp/tcp_handshake.h"
#include "transport/tcp/tcp_stripes.h"

namespace kolo::test {
namespace {

using Bytes = std::vector<std::byte>;

TcpOptions streamsOptions(int streams, size_t stripeMin = size_t{256} << 10) {
  TcpOptions options;
  options.streams = streams;
  options.stripeMinBytes = stripeMin;
  return options;
}

// Stripes cover the message exactly once, in order, each within a byte of the others.
TEST(TcpStripes, StripesTileTheMessage) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{5}, size_t{262144}, size_t{1048579}}) {
    for (int streams = 1; streams <= tcp::kMaxStreams; ++streams) {
      size_t next = 0, shortest = SIZE_MAX, longest = 0;
      for (int i = 0; i < streams; ++i) {
        const tcp::StripeRange r = tcp::stripeOf(size, streams, i);
        EXPECT_EQ(r.offset, next) << size << " B over " << streams << ", stripe " << i;
        next = r.offset + r.length;
        shortest = std::min(shortest, r.length);
        longest = std::max(longest, r.length);
      }
      EXPECT_EQ(next, size) << size << " B over " << streams;
      EXPECT_LE(longest - shortest, 1u) << size << " B over " << streams;
    }
  }
}

// The stream index and count ride in the hello's flag word, which the proofs cover.
TEST(TcpStripes, HelloCarriesTheStreamAndBothEndsMustAgree) {
  tcp::Hello sent{1, 4, "job", tcp::freshNonce(), tcp::kHelloFlagChecksum};
  sent.streams = 3;
  sent.stream = 2;
  auto bytes = tcp::encodeHello(sent);
  tcp::Hello got;
  auto length = tcp::decodeHelloFixed(bytes, got, "h:1");
  ASSERT_TRUE(length) << length.status().toString();
  EXPECT_EQ(got.flags, tcp::kHelloFlagChecksum);
  EXPECT_EQ(got.streams, 3);
  EXPECT_EQ(got.stream, 2);
  EXPECT_TRUE(tcp::validateHelloStreams(got, 3, 2, "h:1").isOk());
  EXPECT_TRUE(tcp::validateHelloStreams(got, 3, -1, "h:1").isOk());
  Status count = tcp::validateHelloStreams(got, 2, -1, "h:1");
  EXPECT_EQ(count.code(), Code::kMismatch);
  EXPECT_NE(count.message().find("KOLO_TCP_STREAMS=3, this rank 2"), std::string::npos)
      << count.message();
  Status index = tcp::validateHelloStreams(got, 3, 1, "h:1");
  EXPECT_EQ(index.code(), Code::kMismatch);
  EXPECT_NE(index.message().find("stream 2, expected 1"), std::string::npos) << index.message();
  // Another stream index is another hello: a proof made for stream 0 does not prove stream 2.
  tcp::Hello acceptor{0, 4, "job", tcp::freshNonce(), tcp::kHelloFlagChecksum};
  tcp::Hello asStreamZero = sent;
  asStreamZero.stream = 0;
  EXPECT_FALSE(tcp::proofMatches(
      tcp::proveHello(kTestSecret, tcp::HelloRole::kConnector, asStreamZero, acceptor),
      tcp::proveHello(kTestSecret, tcp::HelloRole::kConnector, sent, acceptor)));
}

// Ranks that disagree on KOLO_TCP_STREAMS never connect, and say why.
TEST(TcpStripes, RanksWithDifferentStreamCountsFailNamingIt) {
  MemoryStore store;
  const std::string job = uniqueJobId("streamcount");
  Expected<std::shared_ptr<Transport>> r0 = makeStatus(Code::kInternal, "not run");
  std::thread zero(
      [&] { r0 = connectTcpTransport(store, tcpSpec(0, 2, job, 1.0), streamsOptions(2)); });
  auto r1 = connectTcpTransport(store, tcpSpec(1, 2, job, 1.0), streamsOptions(1));
  zero.join();
  for (auto* r : {&r0, &r1}) {
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->status().code(), Code::kTimeout);
    EXPECT_NE(r->status().message().find("KOLO_TCP_STREAMS"), std::string::npos)
        << r->status().message();
  }
}

// A connection posing as rank 1's second stream without the job secret is dropped like any
// stranger (the extra streams pass the same challenge-response as the first); the real rank 1
// then connects all of its streams.
TEST(TcpStripes, AnExtraStreamMustProveTheSecret) {
  MemoryStore store;
  const std::string job = uniqueJobId("streamimpostor");
  Expected<std::shared_ptr<Transport>> r0 = makeStatus(Code::kInternal, "not run");
  std::thread zero([&] { r0 = connectTcpTransport(store, tcpSpec(0, 2, job), streamsOptions(2)); });
  auto published = store.get(tcpAddressKey(job, 0), Deadline::afterSeconds(10));
  ASSERT_TRUE(published) << published.status().toString();
  const std::string& address = *published;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
  inet_pton(AF_INET, address.substr(0, address.rfind(':')).c_str(), &sa.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  tcp::Hello mine{1, 2, job, tcp::freshNonce(), tcp::kHelloFlagChecksum};
  mine.streams = 2;
  mine.stream = 1;
  const auto hello = tcp::encodeHello(mine);
  ASSERT_EQ(::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(hello.size()));
  Bytes answer(tcp::kHelloFixedSize + job.size() + tcp::kProofSize);
  size_t got = 0;
  while (got < answer.size()) {
    const ssize_t n = ::recv(fd, answer.data() + got, answer.size() - got, 0);
    ASSERT_GT(n, 0) << "the acceptor's answer ended after " << got << " bytes";
    got += static_cast<size_t>(n);
  }
  tcp::Hello theirs;
  ASSERT_TRUE(tcp::decodeHelloFixed(answer, theirs, "0"));
  EXPECT_EQ(theirs.stream, 1) << "the acceptor answers on the stream asked for";
  theirs.jobId = job;
  const auto forged =
      tcp::proveHello(std::string(32, 'g'), tcp::HelloRole::kConnector, mine, theirs);
  ASSERT_EQ(::send(fd, forged.data(), forged.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(forged.size()));
  char c;
  const ssize_t end = ::recv(fd, &c, 1, 0);
  EXPECT_TRUE(end == 0 || (end < 0 && errno == ECONNRESET)) << "the impostor was not dropped";
  ::close(fd);
  auto r1 = connectTcpTransport(store, tcpSpec(1, 2, job), streamsOptions(2));
  zero.join();
  EXPECT_TRUE(r0) << r0.status().toString();
  EXPECT_TRUE(r1) << r1.status().toString();
}

// Messages below and above the stripe threshold, under one tag and under several, arrive whole
// and in the order sent (per tag), receives posted before and after arrival; every byte is
// counted once in the per-peer traffic, and each message once.
class TcpStreamsWorld : public ::testing::TestWithParam<int> {};

TEST_P(TcpStreamsWorld, MixedSizesKeepPerTagOrderAndCountBytesOnce) {
  const int streams = GetParam();
  MemoryStore store;
  auto world = connectTcpWorld(3, store, uniqueJobId("stripes"), streamsOptions(streams, 64 << 10));
  // Sizes straddle the 64 KiB threshold; the odd ones do not divide by the stream count.
  const std::vector<size_t> sizes = {100, 65536, 1 << 20, 7, (3 << 20) + 5, 65535, 300001};
  constexpr int kRounds = 3;
  uint64_t expectedBytes = 0;
  for (size_t s : sizes) expectedBytes += s;
  expectedBytes *= kRounds;
  auto results = runRanks(world, [&](int rank, Communicator& comm) -> Status {
    std::vector<Bytes> outs, ins;
    std::vector<TransferRequestPtr> reqs;
    for (int peer = 0; peer < 3; ++peer) {
      if (peer == rank) continue;
      for (int round = 0; round < kRounds; ++round) {
        for (size_t i = 0; i < sizes.size(); ++i) {
          const uint64_t tag = i % 2;  // two tags, each carrying small and striped messages
          outs.push_back(patternBytes(
              sizes[i], static_cast<uint32_t>(rank * 1000 + peer * 100 + round * 10 + i)));
          reqs.push_back(comm.peer(peer).postSend(tag, outs.back()));
        }
      }
    }
    // The receives go in after the sends, so some messages arrive first (held or buffered).
    for (int peer = 0; peer < 3; ++peer) {
      if (peer == rank) continue;
      for (int round = 0; round < kRounds; ++round) {
        for (size_t i = 0; i < sizes.size(); ++i) {
          ins.emplace_back(sizes[i]);
          reqs.push_back(comm.peer(peer).postRecv(i % 2, ins.back()));
        }
      }
    }
    KOLO_RETURN_IF_ERROR(comm.waitAll(reqs));
    size_t at = 0;
    for (int peer = 0; peer < 3; ++peer) {
      if (peer == rank) continue;
      for (int round = 0; round < kRounds; ++round) {
        for (size_t i = 0; i < sizes.size(); ++i, ++at) {
          if (ins[at] != patternBytes(sizes[i], static_cast<uint32_t>(peer * 1000 + rank * 100 +
                                                                      round * 10 + i))) {
            return makeStatus(Code::kInternal, "from rank {}: round {} message {} ({} B) differs",
                              peer, round, i, sizes[i]);
          }
        }
      }
    }
    const std::vector<PeerTraffic> traffic = comm.transport().traffic();
    for (int peer = 0; peer < 3; ++peer) {
      if (peer == rank) continue;
      const PeerTraffic& t = traffic[static_cast<size_t>(peer)];
      if (t.bytesSent != expectedBytes || t.bytesReceived != expectedBytes ||
          t.sends != sizes.size() * kRounds || t.recvs != sizes.size() * kRounds) {
        return makeStatus(Code::kInternal,
                          "traffic with rank {}: sent {} B in {}, received {} B in {}; expected "
                          "{} B in {} each way",
                          peer, t.bytesSent, t.sends, t.bytesReceived, t.recvs, expectedBytes,
                          sizes.size() * kRounds);
      }
    }
    return Status::ok();
  });
  for (auto& s : results) EXPECT_TRUE(s.isOk()) << s.toString();
}

INSTANTIATE_TEST_SUITE_P(Streams, TcpStreamsWorld, ::testing::Values(1, 2, 3, 4));

// A striped receive whose sender sent a message of another size fails as a mismatch naming
// both, at once (the stripes still waiting are cancelled, not left to hang).
TEST(TcpStripes, StripedReceiveOfAnotherSizeIsAMismatch) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("stripemismatch"), streamsOptions(2));
  auto results = runRanks(
      world,
      [](int rank, Communicator& comm) -> Status {
        if (rank == 0) {
          Bytes out = patternBytes(1000, 1);
          std::vector<TransferRequestPtr> reqs;
          reqs.push_back(comm.peer(1).postSend(5, out));
          return comm.waitAll(reqs);
        }
        Bytes in(1 << 20);
        std::vector<TransferRequestPtr> reqs;
        reqs.push_back(comm.peer(0).postRecv(5, in));
        return comm.waitAll(reqs);
      },
      5.0);
  EXPECT_TRUE(results[0].isOk()) << results[0].toString();
  EXPECT_EQ(results[1].code(), Code::kMismatch) << results[1].toString();
  EXPECT_NE(results[1].message().find("recv of 1048576 B from rank 0 (tag 0x5) striped over 2"),
            std::string::npos)
      << results[1].message();
  EXPECT_NE(results[1].message().find("the message has 1000 B"), std::string::npos)
      << results[1].message();
}

// The request's status once it finished, or kTimeout after 5 s.
Status waitAlone(TransferRequestPtr request) {
  const Deadline deadline = Deadline::afterSeconds(5);
  while (!request->test()) {
    if (deadline.expired()) return makeStatus(Code::kTimeout, "{}", request->describe());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return request->status();
}

// One stream of a pair dying (KOLO_FAULT_INJECT action=drop_conn:1) is the peer's failure: the
// striped receive waiting on both streams fails naming the peer, and so does a small message on
// the stream that is still open.
TEST(TcpStripes, OneStreamLostFailsThePeer) {
  MemoryStore store;
  auto world = connectTcpWorld(2, store, uniqueJobId("streamlost"), streamsOptions(2));
  auto spec = FaultSpec::parse("rank=0,op=allreduce,phase=reduce_scatter,action=drop_conn:1");
  ASSERT_TRUE(spec) << spec.status().toString();
  setFaultPlanForTesting({*spec});
  auto results = runRanks(
      world,
      [](int rank, Communicator& comm) -> Status {
        if (rank == 0) {
          FaultOpScope op(0, "allreduce");
          faultPoint(FaultPhase::kReduceScatter);  // both ends' stream 1 is shut down
          return Status::ok();
        }
        // Waited on by hand: the communicator's wait would see this process's fault flag (both
        // ranks are threads here) and report the drop itself instead of the transport's verdict.
        Bytes in(1 << 20);
        Status striped = waitAlone(comm.peer(0).postRecv(9, in));  // nothing is sent
        Bytes small(8);
        Status after = waitAlone(comm.peer(0).postRecv(10, small));
        return makeStatus(Code::kIoError, "striped: {} | small: {}", striped.toString(),
                          after.toString());
      },
      5.0);
  setFaultPlanForTesting({});
  const std::string& msg = results[1].message();
  EXPECT_NE(msg.find("striped: "), std::string::npos) << msg;
  EXPECT_EQ(std::count(msg.begin(), msg.end(), '|'), 1) << msg;
  const std::string striped = msg.substr(0, msg.find('|'));
  const std::string small = msg.substr(msg.find('|'));
  for (const std::string& part : {striped, small}) {
    EXPECT_NE(part.find("connection to rank 0"), std::string::npos) << part;
    EXPECT_NE(part.find("lost"), std::string::npos) << part;
  }
}

}  // namespace
}  // namespace kolo::test
