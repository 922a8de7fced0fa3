// Fuzz target: the negotiation messages ranks exchange every coordinator cycle.
//  1. parseRequest / parseRequestList / parseResponse / parseResponseList on the raw bytes: any
//     input is either rejected with kInvalidArgument or parsed into a value whose encoding
//     parses back to the same value (the encoding is canonical after one round).
//  2. A parsed RequestList goes where a peer's list goes: into rank 0's Negotiator, submitted by
//     every rank of a small world, and the responses it computes must encode and parse back.
// Input: the message bytes (the seeds are real encodings of requests and responses).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "kolo/core/negotiator.h"
#include "kolo/core/request.h"
#include "kolo/core/response.h"

namespace {

using namespace kolo::core;

template <typename T, typename Parse>
void checkRoundTrip(std::span<const std::byte> bytes, Parse parse, const char* what) {
  auto parsed = parse(bytes);
  if (!parsed.hasValue()) {
    FUZZ_CHECK(parsed.status().code() == kolo::Code::kInvalidArgument, "%s: code %d (%s)", what,
               static_cast<int>(parsed.status().code()), parsed.status().message().c_str());
    return;
  }
  std::vector<std::byte> encoded = serialize(parsed.value());
  auto again = parse(std::span<const std::byte>(encoded));
  FUZZ_CHECK(again.hasValue(), "%s: re-encoding does not parse: %s", what,
             again.status().message().c_str());
  std::vector<std::byte> reencoded = serialize(again.value());
  FUZZ_CHECK(encoded == reencoded, "%s: encoding is not stable (%zu vs %zu bytes)", what,
             encoded.size(), reencoded.size());
}

void negotiate(const RequestList& list) {
  constexpr int32_t kWorld = 3;
  Negotiator negotiator = Negotiator::forWorld(kWorld);
  for (int32_t rank = 0; rank < kWorld; ++rank) {
    RequestList copy = list;
    copy.rank = rank;
    for (Request& q : copy.requests) q.rank = rank;
    // Errors are expected for malformed requests; what matters is what happens next.
    (void)negotiator.addRequests(rank, copy);
    ResponseList responses = negotiator.computeResponses();
    for (const Response& p : responses.responses) {
      for (size_t i = 0; i < p.tensorElements.size(); ++i) (void)p.tensorBytes(i);
    }
    std::vector<std::byte> encoded = serialize(responses);
    auto parsed = parseResponseList(std::span<const std::byte>(encoded));
    FUZZ_CHECK(parsed.hasValue(), "negotiated responses do not parse: %s",
               parsed.status().message().c_str());
    // Compared as bytes: a NaN scale factor is never == itself but must survive bit-exactly.
    FUZZ_CHECK(serialize(parsed.value()) == encoded, "negotiated responses change in a round trip");
    (void)negotiator.pendingTensors();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  checkRoundTrip<Request>(bytes, parseRequest, "request");
  checkRoundTrip<RequestList>(bytes, parseRequestList, "request list");
  checkRoundTrip<Response>(bytes, parseResponse, "response");
  checkRoundTrip<ResponseList>(bytes, parseResponseList, "response list");
  if (auto list = parseRequestList(bytes); list.hasValue() && list.value().requests.size() <= 64) {
    negotiate(list.value());
  }
  return 0;
}
