#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "core_test_util.h"
#include "kolo/core/request.h"
#include "kolo/core/response.h"

namespace kolo::core {
namespace {

Request fullRequest() {
  Request q;
  q.rank = 3;
  q.tensorName = "model/layer.7/grad";
  q.op = OpType::kAlltoall;
  q.dtype = DataType::kBFloat16;
  q.shape = {12, 0, 5, int64_t{1} << 40};
  q.reduceOp = ReduceOp::kProduct;
  q.rootRank = 2;
  q.device = 7;
  q.prescale = 0.125;
  q.postscale = -3.5e10;
  q.processSetId = 4;
  q.groupId = 123456;
  q.groupSize = 9;
  q.splits = {3, 0, 9, -1};
  return q;
}

Response fullResponse() {
  Response p;
  p.op = OpType::kAllgather;
  p.tensorNames = {"a", "b/c", std::string(300, 'x')};
  p.dtype = DataType::kInt64;
  p.reduceOp = ReduceOp::kMax;
  p.rootRank = 1;
  p.device = kCpuDevice;
  p.prescale = 2.0;
  p.postscale = std::numeric_limits<double>::infinity();
  p.processSetId = 2;
  p.groupId = kNoGroup;
  p.tensorElements = {1, 2, 3};
  p.tensorSizes = {4, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
  p.errorCode = Code::kMismatch;
  p.errorMessage = "tensor 'a': dtype mismatch";
  return p;
}

TEST(MessageCodec, RequestRoundTripsEveryField) {
  Request q = fullRequest();
  auto parsed = parseRequest(serialize(q));
  ASSERT_TRUE(parsed.hasValue()) << parsed.status().toString();
  EXPECT_EQ(*parsed, q);
}

TEST(MessageCodec, RequestListRoundTrips) {
  RequestList list;
  list.rank = 5;
  list.shutdown = true;
  list.requests = {fullRequest(), testing::allreduce(5, "w", {3, 3}), Request{}};
  auto parsed = parseRequestList(serialize(list));
  ASSERT_TRUE(parsed.hasValue()) << parsed.status().toString();
  EXPECT_EQ(*parsed, list);

  RequestList empty;
  auto parsedEmpty = parseRequestList(serialize(empty));
  ASSERT_TRUE(parsedEmpty.hasValue());
  EXPECT_EQ(*parsedEmpty, empty);
}

TEST(MessageCodec, ResponseAndListRoundTrip) {
  Response p = fullResponse();
  auto parsed = parseResponse(serialize(p));
  ASSERT_TRUE(parsed.hasValue()) << parsed.status().toString();
  EXPECT_EQ(*parsed, p);

  ResponseList list;
  list.shutdown = true;
  list.responses = {p, Response{}, fullResponse()};
  list.responses[1].tensorNames = {"only"};
  auto parsedList = parseResponseList(serialize(list));
  ASSERT_TRUE(parsedList.hasValue()) << parsedList.status().toString();
  EXPECT_EQ(*parsedList, list);
}

TEST(MessageCodec, EncodingIsCompact) {
  // 100 typical gradient requests: name ~20 chars, 2-D shape.
  RequestList list;
  for (int i = 0; i < 100; ++i) {
    list.requests.push_back(
        testing::allreduce(0, "resnet/layer" + std::to_string(i) + "/grad", {256, 1024}));
  }
  EXPECT_LT(serialize(list).size(), 100u * 40);
}

TEST(MessageCodec, EveryTruncationIsAnInvalidArgument) {
  RequestList rl;
  rl.requests = {fullRequest(), fullRequest()};
  ResponseList pl;
  pl.responses = {fullResponse()};
  const auto rlBytes = serialize(rl);
  const auto plBytes = serialize(pl);
  for (size_t n = 0; n < rlBytes.size(); ++n) {
    auto parsed = parseRequestList(std::span(rlBytes).first(n));
    ASSERT_FALSE(parsed.hasValue()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument);
  }
  for (size_t n = 0; n < plBytes.size(); ++n) {
    auto parsed = parseResponseList(std::span(plBytes).first(n));
    ASSERT_FALSE(parsed.hasValue()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument);
  }
  const auto requestBytes = serialize(fullRequest());
  auto tooShort = parseRequest(std::span(requestBytes).first(7));
  EXPECT_NE(tooShort.status().message().find("truncated"), std::string::npos)
      << tooShort.status().toString();
}

TEST(MessageCodec, RejectsTrailingBytesBadMagicAndVersion) {
  auto bytes = serialize(fullRequest());
  bytes.push_back(std::byte{0});
  auto trailing = parseRequest(bytes);
  ASSERT_FALSE(trailing.hasValue());
  EXPECT_EQ(trailing.status().message(),
            fmt::format("request: 1 trailing bytes after {} bytes", bytes.size() - 1));

  // A response list is not a request list.
  auto wrongKind = parseRequestList(serialize(ResponseList{}));
  ASSERT_FALSE(wrongKind.hasValue());
  EXPECT_NE(wrongKind.status().message().find("request list: bad magic"), std::string::npos)
      << wrongKind.status().toString();

  auto newer = serialize(RequestList{});
  newer[4] = std::byte{2};
  auto version = parseRequestList(newer);
  ASSERT_FALSE(version.hasValue());
  EXPECT_EQ(version.status().message(),
            "request list: unsupported version 2 (this build speaks 1)");
}

TEST(MessageCodec, RejectsOutOfRangeEnums) {
  // Layout: magic(4) version(1) rank(1) name length(1) name(1) op(1) dtype(1) ...
  auto bytes = serialize(testing::allreduce(0, "a", {1}));
  bytes[9] = std::byte{200};
  auto parsed = parseRequest(bytes);
  ASSERT_FALSE(parsed.hasValue());
  EXPECT_EQ(parsed.status().toString(),
            "kInvalidArgument: request: dtype value 200 out of range [0, 9)");
  bytes = serialize(testing::allreduce(0, "a", {1}));
  bytes[8] = std::byte{7};
  EXPECT_EQ(parseRequest(bytes).status().message(), "request: op type value 7 out of range [0, 7)");
}

TEST(MessageCodec, HugeCountsFailWithoutAllocating) {
  // A request list header followed by a count of 2^40 requests and nothing else.
  auto bytes = serialize(RequestList{});
  bytes.resize(bytes.size() - 1);  // drop the real count (0)
  uint64_t count = uint64_t{1} << 40;
  while (count >= 0x80) {
    bytes.push_back(static_cast<std::byte>((count & 0x7f) | 0x80));
    count >>= 7;
  }
  bytes.push_back(static_cast<std::byte>(count));
  auto parsed = parseRequestList(bytes);
  ASSERT_FALSE(parsed.hasValue());
  EXPECT_EQ(parsed.status().message(),
            "request list: request count 1099511627776 exceeds the 0 bytes left in the message");
}

// Random buffers (some behind a valid header, to reach the field parsers) never crash; a
// failure is always kInvalidArgument; whatever parses re-encodes to a stable value.
TEST(MessageCodec, RandomBytesNeverCrash) {
  std::mt19937_64 rng(20261126);
  const auto headers =
      std::vector<std::vector<std::byte>>{serialize(Request{}), serialize(RequestList{}),
                                          serialize(Response{}), serialize(ResponseList{})};
  int failures = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<std::byte> buf;
    if (iter % 2 == 0) {
      const auto& h = headers[static_cast<size_t>(iter / 2) % headers.size()];
      buf.assign(h.begin(), h.begin() + 5);
    }
    size_t extra = rng() % 96;
    for (size_t i = 0; i < extra; ++i) buf.push_back(static_cast<std::byte>(rng()));
    auto checkFailure = [&](const Status& s) {
      ASSERT_EQ(s.code(), Code::kInvalidArgument) << s.toString();
      ++failures;
    };
    if (auto q = parseRequest(buf)) {
      auto again = parseRequest(serialize(*q));
      ASSERT_TRUE(again.hasValue());
    } else {
      checkFailure(q.status());
    }
    if (auto l = parseRequestList(buf)) {
      ASSERT_TRUE(parseRequestList(serialize(*l)).hasValue());
    } else {
      checkFailure(l.status());
    }
    if (auto p = parseResponse(buf)) {
      ASSERT_TRUE(parseResponse(serialize(*p)).hasValue());
    } else {
      checkFailure(p.status());
    }
    if (auto l = parseResponseList(buf)) {
      ASSERT_TRUE(parseResponseList(serialize(*l)).hasValue());
    } else {
      checkFailure(l.status());
    }
  }
  EXPECT_GT(failures, 70000);  // garbage is overwhelmingly rejected, not silently accepted
}

// Flipping bytes of valid messages reaches deep into the parsers.
TEST(MessageCodec, MutatedMessagesNeverCrash) {
  std::mt19937 rng(7);
  RequestList rl;
  rl.requests = {fullRequest(), testing::allreduce(1, "g", {2, 2})};
  ResponseList pl;
  pl.responses = {fullResponse(), fullResponse()};
  const auto rlBytes = serialize(rl);
  const auto plBytes = serialize(pl);
  for (int iter = 0; iter < 5000; ++iter) {
    auto a = rlBytes;
    auto b = plBytes;
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
      a[rng() % a.size()] = static_cast<std::byte>(rng());
      b[rng() % b.size()] = static_cast<std::byte>(rng());
    }
    auto ra = parseRequestList(a);
    if (ra) {
      auto again = parseRequestList(serialize(*ra));
      ASSERT_TRUE(again.hasValue());
      EXPECT_EQ(serialize(*again), serialize(*ra));  // bytes: a flipped scale may be NaN
    } else {
      EXPECT_EQ(ra.status().code(), Code::kInvalidArgument);
    }
    auto rb = parseResponseList(b);
    if (!rb) {
      EXPECT_EQ(rb.status().code(), Code::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace kolo::core
