// Fuzz target: the TCP transport's receive side.
//  1. FrameDecoder: the same bytes fed whole, in input-chosen pieces, and with some payload bytes
//     "delivered elsewhere" (skipPayload, as the zero-copy path does) must give the same frames,
//     and every frame must deliver exactly the payload its header announced (and only end once
//     its trailer's CRC32C matched).
//  2. TcpPeer: the bytes arrive on a real socket (a socketpair) at a peer with a few receives
//     posted; whatever they contain, the peer must not crash, must not allocate for a length that
//     has not arrived, and every posted receive must be finished once the connection closes.
// Input: u8 split seed | u8 posted receive count | per receive: u8 tag, u16 size | stream bytes.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "kolo/collectives/doorbell.h"
#include "transport/tcp/frame_codec.h"
#include "transport/tcp/tcp_peer.h"

namespace {

using kolo::fuzz::FuzzInput;
using kolo::tcp::FrameDecoder;
using kolo::tcp::FrameSink;

struct Frame {
  uint64_t tag = 0;
  uint64_t length = 0;
  std::string payload;
  bool ended = false;
  bool operator==(const Frame&) const = default;
};

class RecordingSink : public FrameSink {
 public:
  void onHeader(uint64_t tag, uint64_t length) override {
    FUZZ_CHECK(frames.empty() || frames.back().ended, "header inside frame %zu", frames.size());
    frames.push_back(Frame{tag, length, {}, false});
  }
  void onPayload(std::span<const std::byte> piece) override {
    FUZZ_CHECK(!frames.empty() && !frames.back().ended, "payload outside a frame");
    Frame& f = frames.back();
    f.payload.append(reinterpret_cast<const char*>(piece.data()), piece.size());
    FUZZ_CHECK(f.payload.size() <= f.length, "frame %zu: %zu payload bytes, header said %llu",
               frames.size(), f.payload.size(), static_cast<unsigned long long>(f.length));
  }
  void onFrameEnd() override {
    FUZZ_CHECK(!frames.empty() && !frames.back().ended, "frame end outside a frame");
    Frame& f = frames.back();
    FUZZ_CHECK(f.payload.size() == f.length, "frame ended after %zu of %llu bytes",
               f.payload.size(), static_cast<unsigned long long>(f.length));
    f.ended = true;
  }
  std::vector<Frame> frames;
};

std::span<const std::byte> asBytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

void checkDecoder(uint8_t seed, std::string_view stream) {
  RecordingSink whole;
  FrameDecoder wholeDecoder("fuzz peer");
  kolo::Status wholeStatus = wholeDecoder.feed(asBytes(stream), whole);

  RecordingSink pieces;
  FrameDecoder pieceDecoder("fuzz peer");
  kolo::Status pieceStatus;
  size_t step = (seed & 0x1f) + 1;
  const bool skip = (seed & 0x80) != 0;
  std::string_view left = stream;
  while (!left.empty() && pieceStatus.isOk()) {
    size_t n = std::min(step, left.size());
    if (skip && pieceDecoder.inPayload()) {
      // The zero-copy path: the bytes land in their destination and the decoder is told.
      n = static_cast<size_t>(std::min<uint64_t>(n, pieceDecoder.payloadRemaining()));
      pieces.onPayload(asBytes(left.substr(0, n)));
      pieceDecoder.skipPayload(asBytes(left.substr(0, n)));
    } else {
      pieceStatus = pieceDecoder.feed(asBytes(left.substr(0, n)), pieces);
    }
    left.remove_prefix(n);
    step = step % 29 + 1;
  }
  FUZZ_CHECK(wholeStatus.isOk() == pieceStatus.isOk(), "whole: '%s', pieces: '%s'",
             wholeStatus.message().c_str(), pieceStatus.message().c_str());
  FUZZ_CHECK(whole.frames == pieces.frames, "%zu frames whole, %zu in pieces", whole.frames.size(),
             pieces.frames.size());
  if (!wholeStatus.isOk()) {
    FUZZ_CHECK(wholeStatus.code() == kolo::Code::kIoError, "code %d",
               static_cast<int>(wholeStatus.code()));
    FUZZ_CHECK(wholeStatus.message().find("fuzz peer") != std::string::npos,
               "error does not name the peer: %s", wholeStatus.message().c_str());
    // A failed decoder stays failed.
    FUZZ_CHECK(!wholeDecoder.feed(asBytes("x"), whole).isOk(), "failed decoder recovered");
  }
}

void checkPeer(FuzzInput& in, std::string_view stream) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return;
  auto bell = std::make_shared<kolo::LocalDoorbell>();
  auto peer = std::make_shared<kolo::tcp::TcpPeer>(
      0, 1, "fuzz:1", fds[0], bell, [] {}, [] {});

  struct Posted {
    std::vector<std::byte> buffer;
    kolo::TransferRequestPtr request;
  };
  std::vector<Posted> posted(in.u8() % 4);
  for (Posted& p : posted) {
    uint64_t tag = in.u8();
    p.buffer.resize(in.u16() % 4096);
    p.request = peer->postRecv(tag, p.buffer);
  }

  bool closed = false;
  auto drain = [&] {
    while (!closed) {
      auto result = peer->readAvailable(size_t{1} << 20);
      if (result == kolo::tcp::TcpPeer::ReadResult::kClosed) closed = true;
      if (result != kolo::tcp::TcpPeer::ReadResult::kBudgetSpent) return;
    }
  };
  std::string_view left = stream;
  while (!left.empty() && !closed) {
    ssize_t n = ::send(fds[1], left.data(), left.size(), MSG_NOSIGNAL);
    if (n > 0) left.remove_prefix(static_cast<size_t>(n));
    if (n < 0 && errno != EAGAIN && errno != EINTR) break;
    drain();
  }
  ::shutdown(fds[1], SHUT_WR);
  drain();
  // A large frame arriving while no receive is posted is held in the socket until one is: each
  // posted receive releases one, so the reader reaches the end of the stream.
  for (size_t round = 0; !closed && round <= stream.size() / kolo::tcp::kFrameHeaderSize; ++round) {
    posted.push_back({std::vector<std::byte>(1), nullptr});
    posted.back().request = peer->postRecv(0, posted.back().buffer);
    drain();
  }
  FUZZ_CHECK(closed, "the peer did not see the end of the stream");
  for (Posted& p : posted) {
    FUZZ_CHECK(p.request->test(), "a posted receive is still pending after the connection closed");
  }
  // A receive posted after the failure finishes at once: with a message that had arrived whole,
  // or with the connection's error.
  std::vector<std::byte> late(in.u8());
  kolo::TransferRequestPtr after = peer->postRecv(in.u8(), late);
  FUZZ_CHECK(after->test(), "a receive posted on a dead connection is pending");
  posted.clear();
  after.reset();
  peer.reset();
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The peer logs every corrupt stream; thousands of lines a second would only slow the search.
  static const bool quiet = ::setenv("KOLO_LOG_LEVEL", "none", 0) == 0;
  (void)quiet;
  FuzzInput in(data, size);
  const uint8_t seed = in.u8();
  FuzzInput peerInput = in;
  // The stream starts after the receive descriptions; both checks see the same stream.
  const size_t count = in.u8() % 4;
  for (size_t i = 0; i < count; ++i) {
    in.u8();
    in.u16();
  }
  const std::string_view stream = in.rest();
  checkDecoder(seed, stream);
  checkPeer(peerInput, stream);
  return 0;
}
