// The store's wire format without sockets: framing limits, the challenge, and every way an
// authenticated message can be rejected.
#include "kolo/protocol/store_wire.h"

#include <gtest/gtest.h>

#include <random>

namespace kolo::protocol {
namespace {

const std::string kSecret(kSecretBytes, 'k');
const std::string kNonce(kNonceBytes, 'n');

struct Pair {
  MessageCodec client{kSecret, kNonce, StoreRole::kClient};
  MessageCodec server{kSecret, kNonce, StoreRole::kServer};
};

TEST(StoreWire, PayloadRoundTrip) {
  std::string bytes = PayloadWriter().u8(7).u32(0xA1B2C3D4).i64(-5).str("key").u64(9).take();
  PayloadReader r(bytes);
  EXPECT_EQ(r.u8(), 7);
  EXPECT_EQ(r.u32(), 0xA1B2C3D4u);
  EXPECT_EQ(r.i64(), -5);
  EXPECT_EQ(r.str(), "key");
  EXPECT_EQ(r.u64(), 9u);
  EXPECT_TRUE(r.complete());
}

TEST(StoreWire, ReaderFlagsTruncationAndHugeStringLength) {
  PayloadReader shortRead(std::string_view("\x00\x01", 2));
  shortRead.u32();
  EXPECT_TRUE(shortRead.failed());
  std::string lying = PayloadWriter().u32(1000).raw("abc").take();
  PayloadReader r(lying);
  EXPECT_EQ(r.str(), "");
  EXPECT_TRUE(r.failed());
}

TEST(StoreWire, SealedMessagesOpenOnTheOtherSideInOrder) {
  Pair p;
  for (int i = 0; i < 3; ++i) {
    std::string body = p.client.seal(StoreOp::kSet, "payload" + std::to_string(i));
    auto message = p.server.open(body);
    ASSERT_TRUE(message.hasValue()) << message.status().toString();
    EXPECT_EQ(message->op, StoreOp::kSet);
    EXPECT_EQ(message->payload, "payload" + std::to_string(i));
  }
  auto reply = p.client.open(p.server.seal(StoreOp::kValue, "v"));
  ASSERT_TRUE(reply.hasValue());
  EXPECT_EQ(reply->payload, "v");
}

TEST(StoreWire, WrongSecretIsRejected) {
  MessageCodec client(std::string(kSecretBytes, 'x'), kNonce, StoreRole::kClient);
  MessageCodec server(kSecret, kNonce, StoreRole::kServer);
  auto message = server.open(client.seal(StoreOp::kHello, "r"));
  ASSERT_FALSE(message.hasValue());
  EXPECT_EQ(message.status().code(), Code::kMismatch);
  EXPECT_NE(message.status().message().find("authentication failed"), std::string::npos);
}

TEST(StoreWire, EveryFlippedBitIsRejected) {
  Pair p;
  std::string body = p.client.seal(StoreOp::kSet, "abc");
  for (size_t i = 0; i < body.size() * 8; ++i) {
    MessageCodec server(kSecret, kNonce, StoreRole::kServer);
    std::string tampered = body;
    tampered[i / 8] = static_cast<char>(tampered[i / 8] ^ (1 << (i % 8)));
    EXPECT_FALSE(server.open(tampered).hasValue()) << "bit " << i;
  }
}

TEST(StoreWire, ReplayAndReorderAreRejected) {
  Pair p;
  std::string first = p.client.seal(StoreOp::kSet, "1");
  std::string second = p.client.seal(StoreOp::kSet, "2");
  ASSERT_TRUE(p.server.open(first).hasValue());
  auto replay = p.server.open(first);
  ASSERT_FALSE(replay.hasValue());
  EXPECT_NE(replay.status().message().find("sequence 0 where 1 was expected"), std::string::npos)
      << replay.status().message();
  EXPECT_TRUE(p.server.open(second).hasValue());
}

TEST(StoreWire, MessageFromAnotherConnectionIsRejected) {
  MessageCodec otherClient(kSecret, std::string(kNonceBytes, 'o'), StoreRole::kClient);
  MessageCodec server(kSecret, kNonce, StoreRole::kServer);
  EXPECT_FALSE(server.open(otherClient.seal(StoreOp::kHello, "")).hasValue());
}

TEST(StoreWire, ReflectedMessageIsRejected) {
  // A server's reply sent back to the server must not pass as a client message.
  Pair p;
  MessageCodec server2(kSecret, kNonce, StoreRole::kServer);
  EXPECT_FALSE(server2.open(p.server.seal(StoreOp::kValue, "")).hasValue());
}

TEST(StoreWire, ShortMessageIsRejected) {
  Pair p;
  auto message = p.server.open("tiny");
  ASSERT_FALSE(message.hasValue());
  EXPECT_NE(message.status().message().find("4 bytes"), std::string::npos);
}

TEST(StoreWire, DecoderSplitsFramesFedByteByByte) {
  std::string stream = encodeFrame("one") + encodeFrame("") + encodeFrame("three");
  FrameDecoder decoder;
  std::vector<std::string> frames;
  for (char c : stream) {
    decoder.feed(std::string_view(&c, 1));
    while (true) {
      auto frame = decoder.next();
      ASSERT_TRUE(frame.hasValue());
      if (!frame->has_value()) break;
      frames.push_back(**frame);
    }
  }
  EXPECT_EQ(frames, (std::vector<std::string>{"one", "", "three"}));
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(StoreWire, OversizedLengthFailsBeforeTheBodyArrives) {
  FrameDecoder decoder(1024);
  decoder.feed(PayloadWriter().u32(1025).take());
  auto frame = decoder.next();
  ASSERT_FALSE(frame.hasValue());
  EXPECT_NE(frame.status().message().find("1025 bytes exceeds the limit of 1024"),
            std::string::npos);
  decoder.feed(encodeFrame("ok"));
  EXPECT_FALSE(decoder.next().hasValue()) << "a decoder that lost framing must stay failed";
}

TEST(StoreWire, RandomGarbageNeverOpens) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 1000; ++i) {
    std::string garbage(rng() % 200, '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    FrameDecoder decoder;
    decoder.feed(garbage);
    MessageCodec server(kSecret, kNonce, StoreRole::kServer);
    while (true) {
      auto frame = decoder.next();
      if (!frame || !frame->has_value()) break;
      EXPECT_FALSE(server.open(**frame).hasValue());
    }
  }
}

TEST(StoreWire, ChallengeAndSecretDecoding) {
  auto nonce = decodeChallenge(encodeChallenge(kNonce));
  ASSERT_TRUE(nonce.hasValue());
  EXPECT_EQ(*nonce, kNonce);
  EXPECT_FALSE(decodeChallenge("HTTP/1.1 200 OK").hasValue());
  auto secret = decodeSecret(toHex(kSecret));
  ASSERT_TRUE(secret.hasValue());
  EXPECT_EQ(*secret, kSecret);
  auto bad = decodeSecret("abcz");
  ASSERT_FALSE(bad.hasValue());
  EXPECT_EQ(bad.status().message().find("abcz"), std::string::npos) << "a secret is never echoed";
}

TEST(StoreWire, ErrorPayloadCarriesCodeAndMessage) {
  Status status = decodeError(encodeError(Status(Code::kTimeout, "key 'x' was not set")));
  EXPECT_EQ(status.code(), Code::kTimeout);
  EXPECT_EQ(status.message(), "key 'x' was not set");
  EXPECT_EQ(decodeError(PayloadWriter().u8(200).str("odd").take()).code(), Code::kRemoteError);
}

}  // namespace
}  // namespace kolo::protocol
