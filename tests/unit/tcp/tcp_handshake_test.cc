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
