// TcpPeer over a socketpair, with hand-made bytes on the other end: what the receive side does
// with a payload that was corrupted in transit.
#include "transport/tcp/tcp_peer.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "transport/tcp/crc32c.h"
#include "transport/tcp/frame_codec.h"

namespace kolo::tcp {
namespace {

// One frame: header, `payload`, and a trailer carrying `crc`.
std::vector<std::byte> frameBytes(uint64_t tag, const std::vector<std::byte>& payload,
                                  uint32_t crc) {
  std::vector<std::byte> bytes;
  auto header = FrameEncoder::encodeHeader(tag, payload.size());
  auto trailer = FrameEncoder::encodeTrailer(crc);
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  bytes.insert(bytes.end(), trailer.begin(), trailer.end());
  return bytes;
}

struct PeerPair {
  int fds[2] = {-1, -1};
  std::shared_ptr<TcpPeer> peer;
  std::atomic<int> readRequests{0};   // calls of the peer's wantRead
  std::atomic<int> writeRequests{0};  // calls of the peer's wantWrite

  explicit PeerPair(bool checksum) {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    peer = std::make_shared<TcpPeer>(
        0, 3, "10.0.0.3:4000", fds[0], std::make_shared<LocalDoorbell>(),
        [this] { ++writeRequests; }, [this] { ++readRequests; }, checksum);
  }
  ~PeerPair() {
    peer.reset();
    ::close(fds[0]);
    ::close(fds[1]);
  }
  // Writes one frame whose payload is `sent` but whose trailer is the CRC32C of `meant`.
  void writeFrame(uint64_t tag, const std::vector<std::byte>& meant,
                  const std::vector<std::byte>& sent) {
    std::vector<std::byte> bytes = frameBytes(tag, sent, crc32c(meant));
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fds[1], bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EAGAIN) {
        peer->readAvailable(size_t{1} << 30);  // make room: the peer drains the socket
        continue;
      }
      ASSERT_GT(n, 0);
      off += static_cast<size_t>(n);
    }
  }
  void drain() {
    for (int i = 0;
         i < 1000 && peer->readAvailable(size_t{1} << 30) != TcpPeer::ReadResult::kWouldBlock;
         ++i) {
    }
  }
};

std::vector<std::byte> pattern(size_t n) {
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((i * 7 + 1) & 0xff);
  return out;
}


// Small payloads come through the staging buffer, large ones straight into the receive buffer:
// a flipped bit fails the receive in both cases, naming the peer, instead of completing it.
TEST(TcpPeerChecksum, AFlippedPayloadBitFailsTheReceiveNamingThePeer) {
  for (size_t size : {size_t{100}, size_t{1} << 20}) {
    PeerPair pair(true);
    std::vector<std::byte> buffer(size);
    auto recv = pair.peer->postRecv(9, buffer);
    auto meant = pattern(size);
    auto sent = meant;
    sent[size / 2] ^= std::byte{0x04};
    pair.writeFrame(9, meant, sent);
    pair.drain();
    ASSERT_TRUE(recv->test()) << size;
    EXPECT_EQ(recv->status().code(), Code::kIoError) << size;
    EXPECT_NE(recv->status().message().find("rank 3 (10.0.0.3:4000)"), std::string::npos)
        << recv->status().message();
    EXPECT_NE(recv->status().message().find("failed its CRC32C check"), std::string::npos)
        << recv->status().message();
  }
}

TEST(TcpPeerChecksum, IntactFramesCompleteAndChecksumOffIgnoresTheTrailer) {
  for (bool checksum : {true, false}) {
    PeerPair pair(checksum);
    std::vector<std::byte> buffer(1000);
    auto recv = pair.peer->postRecv(1, buffer);
    auto meant = pattern(1000);
    pair.writeFrame(1, checksum ? meant : std::vector<std::byte>{}, meant);
    pair.drain();
    ASSERT_TRUE(recv->test());
    EXPECT_TRUE(recv->status().isOk()) << recv->status().toString();
    EXPECT_EQ(buffer, meant);
  }
}

// The caller thread's poll completes a small message by itself, and leaves a large payload that
// is being streamed to the io thread's reads once its header was taken.
TEST(TcpPeerPoll, SmallMessagesCompleteOnThePollLargePayloadsAreLeft) {
  PeerPair pair(true);
  std::vector<std::byte> small(64);
  auto recv = pair.peer->postRecv(4, small);
  auto meant = pattern(64);
  pair.writeFrame(4, meant, meant);
  EXPECT_EQ(pair.peer->pollSmall(false), kFrameHeaderSize + 64 + kFrameTrailerSize);
  ASSERT_TRUE(recv->test());
  EXPECT_TRUE(recv->status().isOk()) << recv->status().toString();
  EXPECT_EQ(small, meant);
  EXPECT_EQ(pair.peer->pollSmall(false), 0u) << "nothing more arrived";

  // Only the header and the first bytes of a 1 MiB frame are on the wire.
  std::vector<std::byte> large(1 << 20);
  auto bigRecv = pair.peer->postRecv(5, large);
  auto header = FrameEncoder::encodeHeader(5, large.size());
  std::vector<std::byte> start(header.begin(), header.end());
  start.resize(start.size() + 1000, std::byte{1});
  ASSERT_EQ(::send(pair.fds[1], start.data(), start.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(start.size()));
  EXPECT_EQ(pair.peer->pollSmall(false), start.size());
  EXPECT_EQ(pair.peer->pollSmall(false), 0u) << "a large payload is the io thread's to stream";
  EXPECT_FALSE(bigRecv->test());
  // Where the io thread left the connection to the callers (tcp_io_loop.h), they read it all.
  std::vector<std::byte> more(1000, std::byte{1});
  ASSERT_EQ(::send(pair.fds[1], more.data(), more.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(more.size()));
  EXPECT_EQ(pair.peer->pollSmall(true), more.size());
  EXPECT_FALSE(bigRecv->test());
  EXPECT_TRUE(pair.peer->receivingPayload()) << "the 1 MiB payload is arriving";
}

// A send larger than the socket takes waits for space; a caller's poll writes more of it as the
// other end drains (without the io thread), and once all is written the next send is written
// by its own caller again.
TEST(TcpPeerPoll, APollWritesWhatWaitsForSocketSpace) {
  PeerPair pair(true);
  const auto payload = pattern(size_t{4} << 20);
  auto send = pair.peer->postSend(9, payload);
  ASSERT_FALSE(send->test()) << "4 MiB fit a socketpair's buffer";
  EXPECT_EQ(pair.writeRequests.load(), 1) << "the io thread was asked to wait for space";
  EXPECT_FALSE(pair.peer->pollWrite()) << "no space yet: nothing moved";
  std::vector<std::byte> received;
  std::vector<std::byte> chunk(64 << 10);
  for (int i = 0; i < 100000 && !send->test(); ++i) {
    const ssize_t n = ::recv(pair.fds[1], chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n > 0) received.insert(received.end(), chunk.begin(), chunk.begin() + n);
    pair.peer->pollWrite();
  }
  ASSERT_TRUE(send->test());
  EXPECT_TRUE(send->status().isOk()) << send->status().toString();
  for (ssize_t n; (n = ::recv(pair.fds[1], chunk.data(), chunk.size(), MSG_DONTWAIT)) > 0;) {
    received.insert(received.end(), chunk.begin(), chunk.begin() + n);
  }
  EXPECT_EQ(received, frameBytes(9, payload, crc32c(payload))) << "one intact frame";
  const auto small = pattern(16);
  auto next = pair.peer->postSend(10, small);
  EXPECT_TRUE(next->test()) << "written by its caller, not left to the io thread";
  EXPECT_EQ(pair.writeRequests.load(), 1);
}

// Payloads up to 256 KiB are checksummed before they are written, larger ones behind their
// write (tcp_peer_write.cc): on both sides of that line every frame's trailer carries its
// payload's CRC32C, the socket filling up midway or not.
TEST(TcpPeerChecksum, FramesAroundTheChecksumAheadLimitCarryTheirPayloadsCrc) {
  for (size_t size : {size_t{256} << 10, (size_t{256} << 10) + 1, size_t{1} << 20}) {
    PeerPair pair(true);
    const auto payload = pattern(size);
    auto send = pair.peer->postSend(7, payload);
    std::vector<std::byte> received;
    std::vector<std::byte> chunk(64 << 10);
    const size_t want = kFrameHeaderSize + size + kFrameTrailerSize;
    for (int i = 0; i < 100000 && received.size() < want; ++i) {
      const ssize_t n = ::recv(pair.fds[1], chunk.data(), chunk.size(), MSG_DONTWAIT);
      if (n > 0) received.insert(received.end(), chunk.begin(), chunk.begin() + n);
      pair.peer->pollWrite();
    }
    ASSERT_TRUE(send->test()) << size;
    EXPECT_TRUE(send->status().isOk()) << send->status().toString();
    EXPECT_EQ(received, frameBytes(7, payload, crc32c(payload))) << size;
  }
}

// A large payload's trailer follows its write after the sender's checksum: a reader waiting
// for it is still receiving that frame (so it polls for it rather than parks).
TEST(TcpPeerChecksum, AReceiveStillWaitingForItsTrailerIsReceiving) {
  PeerPair pair(true);
  const auto payload = pattern(size_t{1} << 20);
  std::vector<std::byte> buffer(payload.size());
  auto recv = pair.peer->postRecv(3, buffer);
  EXPECT_FALSE(pair.peer->receivingPayload()) << "nothing arrived yet";
  const std::vector<std::byte> frame = frameBytes(3, payload, crc32c(payload));
  const size_t upToTrailer = frame.size() - kFrameTrailerSize;
  for (size_t off = 0; off < upToTrailer;) {
    const ssize_t n = ::send(pair.fds[1], frame.data() + off, upToTrailer - off, MSG_NOSIGNAL);
    if (n > 0) off += static_cast<size_t>(n);
    pair.drain();
  }
  pair.drain();
  EXPECT_FALSE(recv->test());
  EXPECT_TRUE(pair.peer->receivingPayload()) << "the trailer is still to come";
  ASSERT_EQ(::send(pair.fds[1], frame.data() + upToTrailer, kFrameTrailerSize, MSG_NOSIGNAL),
            static_cast<ssize_t>(kFrameTrailerSize));
  pair.drain();
  ASSERT_TRUE(recv->test());
  EXPECT_TRUE(recv->status().isOk()) << recv->status().toString();
  EXPECT_FALSE(pair.peer->receivingPayload());
  EXPECT_EQ(buffer, payload);
}

// A large frame arriving while no receive is posted stays in the socket: the reader stops at
// its header (nothing is buffered, the sender is paced by TCP) and asks to be called again once
// a receive is posted, which then gets the payload in place; the frame behind it follows.
TEST(TcpPeerHold, ALargeUnpostedFrameWaitsInTheSocketForItsReceive) {
  PeerPair pair(true);
  const auto large = pattern(size_t{512} << 10);
  const auto small = pattern(40);
  std::vector<std::byte> stream = frameBytes(7, large, crc32c(large));
  const auto tail = frameBytes(8, small, crc32c(small));
  stream.insert(stream.end(), tail.begin(), tail.end());
  std::atomic<size_t> written{0};
  std::thread writer([&] {
    size_t off = 0;
    for (int spins = 0; off < stream.size() && spins < 20000; ++spins) {
      ssize_t n = ::send(pair.fds[1], stream.data() + off, stream.size() - off, MSG_NOSIGNAL);
      if (n > 0) off += static_cast<size_t>(n);
      if (n <= 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      written = off;
    }
  });
  TcpPeer::ReadResult result = TcpPeer::ReadResult::kWouldBlock;
  for (int i = 0; i < 2000 && result != TcpPeer::ReadResult::kHeld; ++i) {
    result = pair.peer->readAvailable(size_t{1} << 30);
    if (result != TcpPeer::ReadResult::kHeld)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(result, TcpPeer::ReadResult::kHeld);
  EXPECT_EQ(pair.peer->readAvailable(size_t{1} << 30), TcpPeer::ReadResult::kHeld);
  EXPECT_EQ(pair.peer->pollSmall(false), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_LT(written.load(), stream.size()) << "the held payload was read off the socket";
  EXPECT_EQ(pair.readRequests.load(), 0);

  std::vector<std::byte> buffer(large.size());
  auto recv = pair.peer->postRecv(7, buffer);
  EXPECT_EQ(pair.readRequests.load(), 1) << "posting the receive restarts the reading";
  for (int i = 0; i < 5000 && !recv->test(); ++i) {
    if (pair.peer->readAvailable(size_t{1} << 30) == TcpPeer::ReadResult::kWouldBlock) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  ASSERT_TRUE(recv->test());
  EXPECT_TRUE(recv->status().isOk()) << recv->status().toString();
  EXPECT_EQ(buffer, large);
  writer.join();
  pair.drain();
  std::vector<std::byte> after(small.size());
  auto second = pair.peer->postRecv(8, after);
  ASSERT_TRUE(second->test()) << "the small frame behind it was read ahead";
  EXPECT_TRUE(second->status().isOk()) << second->status().toString();
  EXPECT_EQ(after, small);
}

}  // namespace
}  // namespace kolo::tcp
