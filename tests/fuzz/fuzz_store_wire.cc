// Fuzz target: the rendezvous store's wire format (kolo/protocol/store_wire.h), the part of the
// store a stranger on the port reaches before authenticating, and the payload parsing after it.
//  1. FrameDecoder: the bytes fed whole and in input-chosen pieces give the same bodies, or the
//     same error; nothing above the cap is ever buffered as a body.
//  2. Each body as a challenge (client side) and as a sealed message (server side): nothing
//     authenticates on a connection it was not sealed for.
//  3. The input's own messages sealed with the job secret open on the other side unchanged;
//     one flipped bit anywhere makes them fail; their payloads parse as the server and the
//     client parse them; hex secrets round-trip.
// Input: u8 split seed | u8 op | sized payload | sized hex text | stream bytes.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "kolo/protocol/store_wire.h"

namespace {

using namespace kolo::protocol;
using kolo::fuzz::FuzzInput;

const std::string kSecret(kSecretBytes, 's');
const std::string kNonce(kNonceBytes, 'n');
const std::string kOtherNonce(kNonceBytes, 'o');

struct Decoded {
  std::vector<std::string> bodies;
  bool failed = false;
  std::string error;
};

Decoded decode(std::string_view stream, size_t step, uint32_t cap) {
  Decoded out;
  FrameDecoder decoder(cap);
  while (!stream.empty() && !out.failed) {
    size_t n = std::min(step, stream.size());
    decoder.feed(stream.substr(0, n));
    stream.remove_prefix(n);
    while (true) {
      auto next = decoder.next();
      if (!next.hasValue()) {
        out.failed = true;
        out.error = next.status().message();
        break;
      }
      if (!next.value().has_value()) break;
      FUZZ_CHECK(next.value()->size() <= cap, "body of %zu bytes above the cap %u",
                 next.value()->size(), cap);
      out.bodies.push_back(std::move(*next.value()));
    }
  }
  return out;
}

// What the server does with an authenticated message's payload, and the client with a reply.
void parsePayload(StoreOp op, std::string_view payload) {
  PayloadReader in(payload);
  switch (op) {
    case StoreOp::kHello:
      in.u32();
      break;
    case StoreOp::kSet:
      in.str();
      in.str();
      break;
    case StoreOp::kGet:
      in.str();
      in.u64();
      break;
    case StoreOp::kAdd:
      in.str();
      in.i64();
      break;
    case StoreOp::kValue:
      in.str();
      break;
    case StoreOp::kError: {
      kolo::Status status = decodeError(payload);
      FUZZ_CHECK(!status.isOk(), "an error reply decoded as OK");
      break;
    }
    default:
      break;
  }
  FUZZ_CHECK(!in.complete() || !in.failed(), "complete and failed at once");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t seed = in.u8();
  const auto op = static_cast<StoreOp>(in.u8());
  const std::string payload(in.sized());
  const std::string hex(in.sized());
  const std::string_view stream = in.rest();

  // 1. Framing, with the pre-authentication cap or the normal one.
  const uint32_t cap = (seed & 0x40) ? kMaxHandshakeFrameBytes : kMaxFrameBytes;
  Decoded whole = decode(stream, stream.size() + 1, cap);
  Decoded pieces = decode(stream, (seed & 0x3f) + 1, cap);
  FUZZ_CHECK(whole.failed == pieces.failed && whole.error == pieces.error,
             "whole: '%s', pieces: '%s'", whole.error.c_str(), pieces.error.c_str());
  FUZZ_CHECK(whole.bodies == pieces.bodies, "%zu bodies whole, %zu in pieces", whole.bodies.size(),
             pieces.bodies.size());

  // 2. Garbage as a challenge and as a sealed message.
  for (const std::string& body : whole.bodies) {
    auto nonce = decodeChallenge(body);
    if (nonce.hasValue()) FUZZ_CHECK(nonce.value().size() == kNonceBytes, "short nonce");
    // Bound to another connection's nonce, no body of the input can authenticate (the seeds
    // hold messages sealed for kNonce, which must not carry over).
    MessageCodec server(kSecret, kOtherNonce, StoreRole::kServer);
    auto opened = server.open(body);
    FUZZ_CHECK(!opened.hasValue(), "a %zu-byte body from the input authenticated", body.size());
    FUZZ_CHECK(opened.status().message().find(toHex(kSecret)) == std::string::npos,
               "an error shows the secret");
  }

  // 3. Sealed round trip, tampering and payload parsing.
  MessageCodec client(kSecret, kNonce, StoreRole::kClient);
  MessageCodec server(kSecret, kNonce, StoreRole::kServer);
  std::string sealed = client.seal(op, payload);
  if (!sealed.empty()) {
    std::string tampered = sealed;
    size_t at = (static_cast<size_t>(seed) * 131 + payload.size()) % tampered.size();
    tampered[at] = static_cast<char>(tampered[at] ^ (1 << (seed & 7)));
    MessageCodec victim(kSecret, kNonce, StoreRole::kServer);
    FUZZ_CHECK(!victim.open(tampered).hasValue(), "a message with byte %zu flipped opened", at);
  }
  auto opened = server.open(sealed);
  FUZZ_CHECK(opened.hasValue(), "a sealed message did not open: %s",
             opened.status().message().c_str());
  FUZZ_CHECK(opened.value().op == op && opened.value().payload == payload,
             "a sealed message changed");
  FUZZ_CHECK(!server.open(sealed).hasValue(), "a replayed message opened");
  parsePayload(op, payload);

  // Secrets and hex.
  auto secret = decodeSecret(hex);
  if (secret.hasValue()) {
    FUZZ_CHECK(secret.value().size() == kSecretBytes, "secret of %zu bytes", secret.value().size());
  } else {
    // A would-be secret (16+ hex digits) must never be echoed in the error.
    const bool secretLike =
        hex.size() >= 16 && hex.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
    FUZZ_CHECK(!secretLike || secret.status().message().find(hex) == std::string::npos,
               "the error echoes the secret text");
  }
  if (auto bytes = fromHex(hex)) {
    std::string lower = hex;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    FUZZ_CHECK(toHex(*bytes) == lower, "hex round trip");
  }
  return 0;
}
