#include "transport/tcp/tcp_handshake.h"

#include <gtest/gtest.h>

namespace kolo::tcp {
namespace {

Expected<Hello> decode(const std::vector<std::byte>& bytes) {
  Hello hello;
  auto length = decodeHelloFixed(std::span(bytes).first(std::min(bytes.size(), kHelloFixedSize)),
                                 hello, "10.1.1.1:5000");
  if (!length) return length.status();
  if (bytes.size() != kHelloFixedSize + *length) {
    return makeStatus(Code::kInternal, "length {} vs {}", bytes.size(), kHelloFixedSize + *length);
  }
  hello.jobId.assign(reinterpret_cast<const char*>(bytes.data()) + kHelloFixedSize, *length);
  return hello;
}

TEST(TcpHandshake, RoundTrip) {
  auto bytes = encodeHello({5, 8, "job-42"});
  ASSERT_EQ(bytes.size(), kHelloFixedSize + 6);
  auto hello = decode(bytes);
  ASSERT_TRUE(hello) << hello.status().toString();
  EXPECT_EQ(hello->rank, 5);
  EXPECT_EQ(hello->size, 8);
  EXPECT_EQ(hello->jobId, "job-42");
  EXPECT_TRUE(validateHello(*hello, "job-42", 8, 5, 7, "x").isOk());
}

TEST(TcpHandshake, NonceRoundTripsAndIsFresh) {
  Hello sent{1, 2, "j", freshNonce()};
  auto hello = decode(encodeHello(sent));
  ASSERT_TRUE(hello) << hello.status().toString();
  EXPECT_EQ(hello->nonce, sent.nonce);
  EXPECT_NE(freshNonce(), freshNonce());
}

TEST(TcpHandshake, ProofsBindTheSecretTheRoleAndBothHellos) {
  const std::string secret(32, 'k');
  const Hello connector{1, 2, "job", freshNonce()};
  const Hello acceptor{0, 2, "job", freshNonce()};
  const HelloProof proof = proveHello(secret, HelloRole::kConnector, connector, acceptor);
  EXPECT_TRUE(proofMatches(proof, proveHello(secret, HelloRole::kConnector, connector, acceptor)));
  // Another key, the other role (reflection), another nonce of either side (replay), another
  // rank or job: each changes the proof.
  EXPECT_FALSE(proofMatches(
      proof, proveHello(std::string(32, 'x'), HelloRole::kConnector, connector, acceptor)));
  EXPECT_FALSE(proofMatches(proof, proveHello(secret, HelloRole::kAcceptor, connector, acceptor)));
  Hello other = acceptor;
  other.nonce = freshNonce();
  EXPECT_FALSE(proofMatches(proof, proveHello(secret, HelloRole::kConnector, connector, other)));
  other = connector;
  other.nonce = freshNonce();
  EXPECT_FALSE(proofMatches(proof, proveHello(secret, HelloRole::kConnector, other, acceptor)));
  other = connector;
  other.rank = 3;
  EXPECT_FALSE(proofMatches(proof, proveHello(secret, HelloRole::kConnector, other, acceptor)));
  other = connector;
  other.jobId = "jot";
  EXPECT_FALSE(proofMatches(proof, proveHello(secret, HelloRole::kConnector, other, acceptor)));
}

TEST(TcpHandshake, FlagsRoundTripAndMustAgree) {
  Hello sent{1, 2, "j", freshNonce()};
  sent.flags = kHelloFlagChecksum;
  auto hello = decode(encodeHello(sent));
  ASSERT_TRUE(hello) << hello.status().toString();
  EXPECT_EQ(hello->flags, kHelloFlagChecksum);
  EXPECT_TRUE(validateHelloFlags(*hello, kHelloFlagChecksum, "h:1").isOk());
  Status differ = validateHelloFlags(*hello, 0, "h:1");
  EXPECT_EQ(differ.code(), Code::kMismatch);
  EXPECT_NE(differ.message().find("rank 1 has KOLO_TCP_CHECKSUM=crc32c, this rank none"),
            std::string::npos)
      << differ.message();
}

TEST(TcpHandshake, BadMagicNamesTheEndpoint) {
  auto bytes = encodeHello({1, 2, "j"});
  bytes[0] = std::byte{'G'};
  auto hello = decode(bytes);
  ASSERT_FALSE(hello);
  EXPECT_EQ(hello.status().code(), Code::kIoError);
  EXPECT_NE(hello.status().message().find("10.1.1.1:5000"), std::string::npos);
}

TEST(TcpHandshake, OtherProtocolVersionIsMismatch) {
  auto bytes = encodeHello({1, 2, "j"});
  bytes[4] = std::byte{9};
  auto hello = decode(bytes);
  ASSERT_FALSE(hello);
  EXPECT_EQ(hello.status().code(), Code::kMismatch);
  EXPECT_NE(hello.status().message().find("version 9"), std::string::npos);
}

TEST(TcpHandshake, OversizedJobIdIsRejectedBeforeReadingIt) {
  auto bytes = encodeHello({1, 2, "j"});
  bytes[18] = std::byte{0x10};  // job id length 0x100001
  Hello hello;
  auto length = decodeHelloFixed(std::span(bytes).first(kHelloFixedSize), hello, "peer");
  ASSERT_FALSE(length);
  EXPECT_NE(length.status().message().find("exceeds"), std::string::npos);
}

TEST(TcpHandshake, ValidateNamesTheWrongField) {
  Hello hello{3, 4, "other-job"};
  auto job = validateHello(hello, "my-job", 4, 1, 3, "h:1");
  EXPECT_EQ(job.code(), Code::kMismatch);
  EXPECT_NE(job.message().find("'other-job'"), std::string::npos);
  EXPECT_NE(job.message().find("'my-job'"), std::string::npos);

  hello.jobId = "my-job";
  auto size = validateHello(hello, "my-job", 5, 1, 4, "h:1");
  EXPECT_NE(size.message().find("world size 4, expected 5"), std::string::npos) << size.message();

  auto rank = validateHello(hello, "my-job", 4, 0, 2, "h:1");
  EXPECT_NE(rank.message().find("rank 3 outside the expected range [0, 2]"), std::string::npos)
      << rank.message();
}

}  // namespace
}  // namespace kolo::tcp
