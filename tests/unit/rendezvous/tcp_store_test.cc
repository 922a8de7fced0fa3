// kolorun's StoreServer with the runtime's TcpStore over loopback: the KvStore contract, and
// that strangers (wrong secret, garbage, replays, silence) are dropped without disturbing the
// clients that belong to the job.
#include "kolo/rendezvous/tcp_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "kolo/launcher/store_server.h"
#include "kolo/protocol/store_wire.h"
#include "kolo/rendezvous/store_factory.h"

namespace kolo {
namespace {

using launcher::StoreServer;
using launcher::StoreServerOptions;
using protocol::StoreOp;

const std::string kSecret(protocol::kSecretBytes, 's');

class TcpStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { start(3, 5.0); }

  void start(int worldSize, double handshakeTimeout) {
    server_.reset();
    StoreServerOptions options;
    options.secret = kSecret;
    options.worldSize = worldSize;
    options.handshakeTimeoutSeconds = handshakeTimeout;
    options.log = [this](const std::string& line) {
      std::lock_guard lock(mutex_);
      log_.push_back(line);
    };
    auto server = StoreServer::start(std::move(options));
    ASSERT_TRUE(server.hasValue()) << server.status().toString();
    server_ = std::move(*server);
  }

  std::unique_ptr<TcpStore> client(uint32_t rank = protocol::kNoRank,
                                   const std::string& secret = kSecret) {
    auto store =
        TcpStore::connect("127.0.0.1", server_->port(), secret, rank, Deadline::afterSeconds(5));
    EXPECT_TRUE(store.hasValue()) << store.status().toString();
    return store ? std::move(*store) : nullptr;
  }

  std::string logText() {
    std::lock_guard lock(mutex_);
    std::string text;
    for (const auto& line : log_) text += line + "\n";
    return text;
  }

  // A plain socket to the server with a 5 s receive timeout, so no read here can hang.
  int rawConnect() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    return fd;
  }

  static std::string readFrame(int fd) {
    char header[4];
    if (::recv(fd, header, 4, MSG_WAITALL) != 4) return {};
    uint32_t n = protocol::PayloadReader(std::string_view(header, 4)).u32();
    std::string body(n, '\0');
    if (n > 0 && ::recv(fd, body.data(), n, MSG_WAITALL) != static_cast<ssize_t>(n)) return {};
    return body;
  }

  // True when the server closes the connection (EOF) within the receive timeout.
  static bool closedByServer(int fd) {
    char buffer[256];
    while (true) {
      ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

  std::mutex mutex_;
  std::vector<std::string> log_;
  std::unique_ptr<StoreServer> server_;
};

TEST_F(TcpStoreTest, SetGetAddAcrossClients) {
  auto a = client(0);
  auto b = client(1);
  ASSERT_TRUE(a && b);
  std::thread waiter([&] {
    auto value = a->get("addr/1", Deadline::afterSeconds(10));
    ASSERT_TRUE(value.hasValue()) << value.status().toString();
    EXPECT_EQ(*value, std::string("10.0.0.1:\0:7", 12));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(b->set("addr/1", std::string("10.0.0.1:\0:7", 12)).isOk());
  waiter.join();

  std::vector<std::thread> adders;
  for (int t = 0; t < 4; ++t) {
    adders.emplace_back([&, t] {
      TcpStore& store = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < 50; ++i) ASSERT_TRUE(store.add("counter", 1).hasValue());
    });
  }
  for (auto& t : adders) t.join();
  auto total = a->add("counter", 0);
  ASSERT_TRUE(total.hasValue());
  EXPECT_EQ(*total, 200);
  EXPECT_EQ(a->add("counter", -201).value(), -1);
}

// kolorun's own add (the live verdict's request counter) and the clients' adds count together,
// and a client's get waiting on the key wakes on kolorun's add.
TEST_F(TcpStoreTest, ServerSideAddCountsWithClientsAndWakesTheirGets) {
  auto a = client(0);
  ASSERT_TRUE(a);
  std::thread waiter([&] {
    auto value = a->get("requests", Deadline::afterSeconds(10));
    ASSERT_TRUE(value.hasValue()) << value.status().toString();
    EXPECT_EQ(*value, "1");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(server_->add("requests", 1), std::optional<int64_t>(1));
  waiter.join();
  EXPECT_EQ(a->add("requests", 2).value(), 3);
  EXPECT_EQ(server_->add("requests", 0), std::optional<int64_t>(3));
  ASSERT_TRUE(a->set("text", "not a number").isOk());
  EXPECT_EQ(server_->add("text", 1), std::nullopt);
}

TEST_F(TcpStoreTest, AddPastTheInt64RangeIsAnErrorAndLeavesTheValue) {
  auto store = client();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set("big", std::to_string(INT64_MAX)).isOk());
  auto over = store->add("big", 1);
  ASSERT_FALSE(over.hasValue());
  EXPECT_EQ(over.status().code(), Code::kInvalidArgument) << over.status().toString();
  EXPECT_NE(over.status().message().find("overflows"), std::string::npos)
      << over.status().toString();
  EXPECT_EQ(store->add("big", 0).value(), INT64_MAX);
  ASSERT_TRUE(store->add("small", INT64_MIN).hasValue());
  EXPECT_FALSE(store->add("small", -1).hasValue());
  EXPECT_EQ(store->add("small", 0).value(), INT64_MIN);
}

TEST_F(TcpStoreTest, BlockedGetDoesNotHoldUpSetOnTheSameStore) {
  auto store = client();
  ASSERT_TRUE(store);
  std::thread waiter([&] {
    auto value = store->get("late", Deadline::afterSeconds(10));
    ASSERT_TRUE(value.hasValue()) << value.status().toString();
    EXPECT_EQ(*value, "here");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(store->set("late", "here").isOk());
  waiter.join();
}

TEST_F(TcpStoreTest, GetTimesOutNamingTheKey) {
  auto store = client();
  ASSERT_TRUE(store);
  auto value = store->get("never/set", Deadline::afterSeconds(0.2));
  ASSERT_FALSE(value.hasValue());
  EXPECT_EQ(value.status().code(), Code::kTimeout);
  EXPECT_NE(value.status().message().find("'never/set'"), std::string::npos);
  EXPECT_NE(value.status().message().find("tcp store 127.0.0.1:"), std::string::npos);
  // The connection is still good for the next request.
  ASSERT_TRUE(store->set("never/set", "now").isOk());
  EXPECT_EQ(store->get("never/set", Deadline::afterSeconds(1)).value(), "now");
}

TEST_F(TcpStoreTest, WrongSecretIsRefusedAndLoggedWithThePeer) {
  auto bad = TcpStore::connect("127.0.0.1", server_->port(), std::string(32, 'w'), 0,
                               Deadline::afterSeconds(5));
  ASSERT_FALSE(bad.hasValue());
  EXPECT_EQ(bad.status().code(), Code::kMismatch);
  EXPECT_NE(bad.status().message().find("refused"), std::string::npos) << bad.status().message();
  EXPECT_EQ(server_->rejectedConnections(), 1);
  EXPECT_NE(logText().find("closed connection from 127.0.0.1:"), std::string::npos) << logText();
  EXPECT_NE(logText().find("authentication failed"), std::string::npos) << logText();
  EXPECT_FALSE(server_->joinedRanks()[0]) << "a refused client must not count as joined";
  auto good = client(0);
  ASSERT_TRUE(good);
  EXPECT_TRUE(good->set("k", "v").isOk());
}

TEST_F(TcpStoreTest, JoinedRanksAndOutOfRangeRank) {
  auto r0 = client(0);
  auto r2 = client(2);
  EXPECT_EQ(server_->joinedRanks(), (std::vector<bool>{true, false, true}));
  auto r5 = TcpStore::connect("127.0.0.1", server_->port(), kSecret, 5, Deadline::afterSeconds(5));
  ASSERT_FALSE(r5.hasValue());
  EXPECT_NE(logText().find("hello from rank 5 of a 3-rank job"), std::string::npos) << logText();
}

TEST_F(TcpStoreTest, GarbageSilenceAndReplayAreDroppedWhileAGetWaits) {
  start(2, 0.3);
  auto member = client(0);
  ASSERT_TRUE(member);
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto value = member->get("after-attacks", Deadline::afterSeconds(20));
    ASSERT_TRUE(value.hasValue()) << value.status().toString();
    EXPECT_EQ(*value, "fine");
    got = true;
  });

  // Garbage: an HTTP request. The server reads a huge "length" and drops the connection at once.
  int garbage = rawConnect();
  const char request[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_GT(::send(garbage, request, sizeof(request) - 1, MSG_NOSIGNAL), 0);
  EXPECT_TRUE(closedByServer(garbage));
  ::close(garbage);

  // Silence: never answers the challenge; closed after the handshake timeout.
  int silent = rawConnect();
  EXPECT_TRUE(closedByServer(silent));
  ::close(silent);

  // Replay: a correct client sends a valid set twice; the copy is refused.
  int replayer = rawConnect();
  auto nonce = protocol::decodeChallenge(readFrame(replayer));
  ASSERT_TRUE(nonce.hasValue());
  protocol::MessageCodec codec(kSecret, *nonce, protocol::StoreRole::kClient);
  std::string hello = protocol::encodeFrame(
      codec.seal(StoreOp::kHello, protocol::PayloadWriter().u32(protocol::kNoRank).take()));
  ASSERT_GT(::send(replayer, hello.data(), hello.size(), MSG_NOSIGNAL), 0);
  ASSERT_TRUE(codec.open(readFrame(replayer)).hasValue());
  std::string set = protocol::encodeFrame(
      codec.seal(StoreOp::kAdd, protocol::PayloadWriter().str("replayed").i64(1).take()));
  ASSERT_GT(::send(replayer, set.data(), set.size(), MSG_NOSIGNAL), 0);
  ASSERT_TRUE(codec.open(readFrame(replayer)).hasValue());
  ASSERT_GT(::send(replayer, set.data(), set.size(), MSG_NOSIGNAL), 0);
  EXPECT_TRUE(closedByServer(replayer));
  ::close(replayer);
  EXPECT_NE(logText().find("replayed or reordered"), std::string::npos) << logText();
  EXPECT_NE(logText().find("no valid hello within"), std::string::npos) << logText();
  EXPECT_EQ(server_->rejectedConnections(), 3);

  EXPECT_FALSE(got.load());
  ASSERT_TRUE(member->set("after-attacks", "fine").isOk());
  waiter.join();
  EXPECT_EQ(member->add("replayed", 0).value(), 1) << "the replayed add must not have run twice";
}

TEST_F(TcpStoreTest, LargeFrameBeforeAuthenticationIsRefusedAtItsHeader) {
  int fd = rawConnect();
  ASSERT_FALSE(readFrame(fd).empty());
  // Only the length is sent: the server must refuse without waiting for (or buffering) a body.
  std::string header = protocol::PayloadWriter().u32(100000).take();
  ASSERT_GT(::send(fd, header.data(), header.size(), MSG_NOSIGNAL), 0);
  EXPECT_TRUE(closedByServer(fd));
  ::close(fd);
  EXPECT_NE(logText().find("frame of 100000 bytes exceeds the limit of 256"), std::string::npos)
      << logText();
}

TEST_F(TcpStoreTest, OpenStoreReadsSecretAndRankFromTheEnvironment) {
  std::string url = "tcp:127.0.0.1:" + std::to_string(server_->port());
  ::unsetenv("KOLO_SECRET");
  auto missing = openStore(url);
  ASSERT_FALSE(missing.hasValue());
  EXPECT_NE(missing.status().message().find("KOLO_SECRET"), std::string::npos);
  ::setenv("KOLO_SECRET", protocol::toHex(kSecret).c_str(), 1);
  ::setenv("KOLO_RANK", "1", 1);
  auto store = openStore(url);
  ::unsetenv("KOLO_SECRET");
  ::unsetenv("KOLO_RANK");
  ASSERT_TRUE(store.hasValue()) << store.status().toString();
  EXPECT_TRUE((*store)->set("x", "y").isOk());
  EXPECT_TRUE(server_->joinedRanks()[1]);
  EXPECT_FALSE(openStore("tcp:127.0.0.1").hasValue());
  EXPECT_FALSE(openStore("tcp:127.0.0.1:99999").hasValue());
}

TEST(ParseHostPort, AcceptsNamesAndBracketedIpv6) {
  EXPECT_EQ(parseHostPort("node1:29500").value(), std::make_pair(std::string("node1"), 29500));
  EXPECT_EQ(parseHostPort("[::1]:80").value(), std::make_pair(std::string("::1"), 80));
  EXPECT_FALSE(parseHostPort(":80").hasValue());
  EXPECT_FALSE(parseHostPort("host:").hasValue());
  EXPECT_FALSE(parseHostPort("host:0").hasValue());
}

}  // namespace
}  // namespace kolo
