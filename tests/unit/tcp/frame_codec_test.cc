#include "transport/tcp/frame_codec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "transport/tcp/crc32c.h"

namespace kolo::tcp {
namespace {

struct Frame {
  uint64_t tag = 0;
  std::vector<std::byte> payload;
  bool operator==(const Frame&) const = default;
};

// Rebuilds whole frames from the decoder's events, checking their order.
class RecordingSink : public FrameSink {
 public:
  void onHeader(uint64_t tag, uint64_t length) override {
    EXPECT_FALSE(open_) << "header inside a frame";
    open_ = true;
    expected_ = length;
    frames.push_back({tag, {}});
  }
  void onPayload(std::span<const std::byte> piece) override {
    ASSERT_TRUE(open_) << "payload outside a frame";
    EXPECT_FALSE(piece.empty());
    frames.back().payload.insert(frames.back().payload.end(), piece.begin(), piece.end());
    EXPECT_LE(frames.back().payload.size(), expected_);
  }
  void onFrameEnd() override {
    ASSERT_TRUE(open_);
    if (!allowSkipped) {
      EXPECT_EQ(frames.back().payload.size(), expected_);
    }
    open_ = false;
  }
  bool open() const { return open_; }
  std::vector<Frame> frames;
  bool allowSkipped = false;  // payload bytes may have bypassed the sink (skipPayload)

 private:
  bool open_ = false;
  uint64_t expected_ = 0;
};

std::vector<std::byte> pattern(size_t n, int seed) {
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((i * 31 + seed) & 0xff);
  return out;
}

std::vector<std::byte> encodeStream(const std::vector<Frame>& frames) {
  std::vector<std::byte> stream;
  for (const Frame& f : frames) {
    auto header = FrameEncoder::encodeHeader(f.tag, f.payload.size());
    stream.insert(stream.end(), header.begin(), header.end());
    stream.insert(stream.end(), f.payload.begin(), f.payload.end());
    auto trailer = FrameEncoder::encodeTrailer(crc32c(f.payload));
    stream.insert(stream.end(), trailer.begin(), trailer.end());
  }
  return stream;
}

const std::vector<Frame> kFrames = {
    {0x100002, pattern(37, 1)},
    {7, {}},  // empty payload between two others
    {0xffffffffffffffffULL, pattern(5, 2)},
    {0, pattern(1, 3)},
};

TEST(FrameEncoder, HeaderIsLittleEndianMagicTagLength) {
  auto h = FrameEncoder::encodeHeader(0x0102030405060708ULL, 0x1122);
  ASSERT_EQ(h.size(), 20u);
  const uint8_t expected[20] = {0x4b, 0x4f, 0x4c, 0x46, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03,
                                0x02, 0x01, 0x22, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(std::to_integer<uint8_t>(h[i]), expected[i]) << i;
}

TEST(FrameDecoder, StreamSplitInTwoAtEveryByteBoundary) {
  auto stream = encodeStream(kFrames);
  for (size_t split = 0; split <= stream.size(); ++split) {
    FrameDecoder decoder("rank 1 (test)");
    RecordingSink sink;
    std::span<const std::byte> all(stream);
    ASSERT_TRUE(decoder.feed(all.first(split), sink).isOk()) << split;
    ASSERT_TRUE(decoder.feed(all.subspan(split), sink).isOk()) << split;
    EXPECT_EQ(sink.frames, kFrames) << "split at " << split;
    EXPECT_FALSE(sink.open());
    EXPECT_FALSE(decoder.inPayload());
  }
}

TEST(FrameDecoder, StreamFedOneByteAtATime) {
  auto stream = encodeStream(kFrames);
  FrameDecoder decoder("rank 1 (test)");
  RecordingSink sink;
  for (size_t i = 0; i < stream.size(); ++i) {
    ASSERT_TRUE(decoder.feed(std::span(stream).subspan(i, 1), sink).isOk()) << i;
  }
  EXPECT_EQ(sink.frames, kFrames);
}

TEST(FrameDecoder, SkipPayloadAccountsForBytesDeliveredElsewhere) {
  std::vector<Frame> frames = {{9, pattern(100, 4)}, {10, pattern(3, 5)}};
  auto stream = encodeStream(frames);
  FrameDecoder decoder("rank 1 (test)");
  RecordingSink sink;
  sink.allowSkipped = true;
  std::span<const std::byte> all(stream);
  // Header plus 10 payload bytes through feed(), the next 90 "read directly", then the rest.
  ASSERT_TRUE(decoder.feed(all.first(kFrameHeaderSize + 10), sink).isOk());
  EXPECT_TRUE(decoder.inPayload());
  EXPECT_EQ(decoder.currentTag(), 9u);
  EXPECT_EQ(decoder.payloadRemaining(), 90u);
  decoder.skipPayload(all.subspan(kFrameHeaderSize + 10, 90));
  EXPECT_FALSE(decoder.inPayload());
  EXPECT_TRUE(sink.open()) << "the frame ends only once its trailer checked out";
  ASSERT_TRUE(decoder.feed(all.subspan(kFrameHeaderSize + 100), sink).isOk());
  ASSERT_EQ(sink.frames.size(), 2u);
  EXPECT_EQ(sink.frames[0].payload.size(), 10u);
  EXPECT_EQ(sink.frames[1], frames[1]);
}

TEST(FrameDecoder, GarbageHeaderIsIoErrorNamingThePeerAndSticks) {
  FrameDecoder decoder("rank 3 (10.0.0.7:4000)");
  RecordingSink sink;
  std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  auto status = decoder.feed(std::as_bytes(std::span(garbage)), sink);
  EXPECT_EQ(status.code(), Code::kIoError);
  EXPECT_NE(status.message().find("rank 3 (10.0.0.7:4000)"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("magic"), std::string::npos) << status.message();
  EXPECT_TRUE(sink.frames.empty());
  // A valid frame afterwards cannot resync the stream.
  auto valid = encodeStream({{1, pattern(4, 0)}});
  EXPECT_EQ(decoder.feed(valid, sink).code(), Code::kIoError);
  EXPECT_TRUE(sink.frames.empty());
}

TEST(Crc32c, KnownValuesAndExtension) {
  const std::string check = "123456789";
  EXPECT_EQ(crc32c(std::as_bytes(std::span(check))), 0xe3069283u);
  EXPECT_EQ(crc32c({}), 0u);
  auto data = pattern(1000, 7);
  const uint32_t whole = crc32c(data);
  for (size_t split : {0, 1, 7, 8, 9, 500, 999, 1000}) {
    std::span<const std::byte> all(data);
    EXPECT_EQ(crc32cExtend(crc32c(all.first(split)), all.subspan(split)), whole) << split;
  }
}

// The hardware path interleaves three streams over 3 x 8 KiB and joins them; every length
// around those boundaries, split anywhere, must give the table-driven value.
TEST(Crc32c, InterleavedStreamsMatchTheTableAtEveryBoundary) {
  auto data = pattern(5 * 24576 + 77, 11);
  std::span<const std::byte> all(data);
  for (size_t n : {size_t{0}, size_t{24575}, size_t{24576}, size_t{24577}, size_t{24583},
                   size_t{49152}, size_t{65536}, size_t{100000}, data.size()}) {
    EXPECT_EQ(crc32cUnfolded(0, all.first(n)), crc32cPortable(all.first(n))) << n;
  }
  for (size_t split : {size_t{1}, size_t{8191}, size_t{24576}, size_t{40000}}) {
    EXPECT_EQ(crc32cUnfolded(crc32cUnfolded(0, all.first(split)), all.subspan(split)),
              crc32cPortable(all))
        << split;
  }
}

// The folded path (VPCLMULQDQ, where the CPU has it) takes inputs of 4 KiB and more in 256-byte
// steps and leaves the rest to the crc32 instruction: lengths around those steps, starts at
// every alignment, and extensions split anywhere must give the table-driven value.
TEST(Crc32c, FoldedBlocksMatchTheTableAtEveryLengthAndAlignment) {
  auto data = pattern(3 * 65536 + 333, 13);
  std::span<const std::byte> all(data);
  for (size_t n : {size_t{4095}, size_t{4096}, size_t{4097}, size_t{4351}, size_t{4352},
                   size_t{4353}, size_t{4096 + 255}, size_t{65536}, size_t{65536 + 17},
                   size_t{131072 + 250}, data.size() - 64}) {
    for (size_t offset : {size_t{0}, size_t{1}, size_t{7}, size_t{63}}) {
      EXPECT_EQ(crc32c(all.subspan(offset, n)), crc32cPortable(all.subspan(offset, n)))
          << n << " from " << offset;
    }
  }
  for (size_t split : {size_t{1}, size_t{255}, size_t{4096}, size_t{70001}}) {
    EXPECT_EQ(crc32cExtend(crc32c(all.first(split)), all.subspan(split)), crc32cPortable(all))
        << split;
  }
  // Every byte counts: one flipped bit anywhere in a folded block changes the value.
  auto flipped = data;
  flipped[5000] ^= std::byte{0x10};
  EXPECT_NE(crc32c(flipped), crc32c(data));
}

TEST(FrameEncoder, TrailerIsTheLittleEndianCrc32c) {
  auto t = FrameEncoder::encodeTrailer(0xe3069283u);
  const uint8_t expected[4] = {0x83, 0x92, 0x06, 0xe3};
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(std::to_integer<uint8_t>(t[i]), expected[i]) << i;
}

// One flipped bit anywhere in a payload, whether it came through feed() or landed directly, is
// an error naming the peer and the tag, and the frame never ends (its receive never completes).
TEST(FrameDecoder, AFlippedPayloadBitFailsTheChecksumNamingThePeer) {
  const std::vector<Frame> frames = {{5, pattern(100, 4)}};
  for (bool direct : {false, true}) {
    for (size_t at : {size_t{0}, size_t{63}, size_t{99}}) {
      auto stream = encodeStream(frames);
      stream[kFrameHeaderSize + at] ^= std::byte{0x10};
      FrameDecoder decoder("rank 2 (10.0.0.9:4000)");
      RecordingSink sink;
      sink.allowSkipped = direct;
      std::span<const std::byte> all(stream);
      Status status;
      if (direct) {
        ASSERT_TRUE(decoder.feed(all.first(kFrameHeaderSize), sink).isOk());
        decoder.skipPayload(all.subspan(kFrameHeaderSize, 100));
        status = decoder.feed(all.subspan(kFrameHeaderSize + 100), sink);
      } else {
        status = decoder.feed(all, sink);
      }
      EXPECT_EQ(status.code(), Code::kIoError) << direct << " " << at;
      EXPECT_NE(status.message().find("rank 2 (10.0.0.9:4000)"), std::string::npos)
          << status.message();
      EXPECT_NE(status.message().find("tag 0x5) failed its CRC32C check"), std::string::npos)
          << status.message();
      EXPECT_TRUE(sink.open()) << "a corrupt frame must not end";
    }
  }
}

TEST(FrameDecoder, CorruptionAfterAValidFrameIsDetected) {
  auto stream = encodeStream({{1, pattern(8, 0)}, {2, pattern(8, 1)}});
  // first byte of the second magic
  stream[kFrameHeaderSize + 8 + kFrameTrailerSize] = std::byte{0};
  FrameDecoder decoder("rank 0 (x)");
  RecordingSink sink;
  EXPECT_EQ(decoder.feed(stream, sink).code(), Code::kIoError);
  ASSERT_EQ(sink.frames.size(), 1u);
  EXPECT_EQ(sink.frames[0].tag, 1u);
}

}  // namespace
}  // namespace kolo::tcp
