#include "transport/tcp/tcp_handshake.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "kolo/protocol/store_wire.h"

namespace kolo::tcp {
namespace {

template <typename T>
void putLe(std::vector<std::byte>& out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<std::byte>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff));
  }
}

template <typename T>
T getLe(std::span<const std::byte> in, size_t at) {
  uint64_t value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    value |= static_cast<uint64_t>(std::to_integer<uint8_t>(in[at + i])) << (8 * i);
  }
  return static_cast<T>(value);
}

}  // namespace

std::vector<std::byte> encodeHello(const Hello& hello) {
  std::vector<std::byte> out;
  out.reserve(kHelloFixedSize + hello.jobId.size());
  putLe<uint32_t>(out, kHelloMagic);
  putLe<uint16_t>(out, kProtocolVersion);
  const auto word = static_cast<uint16_t>((hello.flags & kHelloFlagMask) |
                                          ((static_cast<unsigned>(hello.streams - 1) & 0xf) << 4) |
                                          ((static_cast<unsigned>(hello.stream) & 0xff) << 8));
  putLe<uint16_t>(out, word);
  putLe<uint32_t>(out, static_cast<uint32_t>(hello.rank));
  putLe<uint32_t>(out, static_cast<uint32_t>(hello.size));
  putLe<uint32_t>(out, static_cast<uint32_t>(hello.jobId.size()));
  out.insert(out.end(), hello.nonce.begin(), hello.nonce.end());
  for (char c : hello.jobId) out.push_back(static_cast<std::byte>(c));
  return out;
}

Status checkHelloPrefix(std::span<const std::byte> prefix, const std::string& from) {
  auto magic = getLe<uint32_t>(prefix, 0);
  if (magic != kHelloMagic) {
    return makeStatus(Code::kIoError, "hello from {}: bad magic 0x{:08x} (not a Kolo rank)", from,
                      magic);
  }
  auto version = getLe<uint16_t>(prefix, 4);
  if (version != kProtocolVersion) {
    return makeStatus(Code::kMismatch, "hello from {}: protocol version {}, this build speaks {}",
                      from, version, kProtocolVersion);
  }
  return Status::ok();
}

Expected<uint32_t> decodeHelloFixed(std::span<const std::byte> fixed, Hello& out,
                                    const std::string& from) {
  if (fixed.size() < kHelloFixedSize) {
    return makeStatus(Code::kIoError, "hello from {}: {} bytes, expected {}", from, fixed.size(),
                      kHelloFixedSize);
  }
  KOLO_RETURN_IF_ERROR(checkHelloPrefix(fixed.first(kHelloPrefixSize), from));
  const auto word = getLe<uint16_t>(fixed, 6);
  out.flags = word & kHelloFlagMask;
  out.streams = ((word >> 4) & 0xf) + 1;
  out.stream = word >> 8;
  out.rank = static_cast<int>(getLe<int32_t>(fixed, 8));
  out.size = static_cast<int>(getLe<int32_t>(fixed, 12));
  auto jobIdLength = getLe<uint32_t>(fixed, 16);
  std::copy_n(fixed.begin() + 20, kNonceSize, out.nonce.begin());
  if (jobIdLength > kMaxJobIdLength) {
    return makeStatus(Code::kIoError, "hello from {}: job id of {} bytes exceeds the limit of {}",
                      from, jobIdLength, kMaxJobIdLength);
  }
  return jobIdLength;
}

Status validateHello(const Hello& hello, const std::string& jobId, int size, int minRank,
                     int maxRank, const std::string& from) {
  if (hello.jobId != jobId) {
    return makeStatus(Code::kMismatch, "hello from {}: job id '{}', expected '{}'", from,
                      hello.jobId, jobId);
  }
  if (hello.size != size) {
    return makeStatus(Code::kMismatch, "hello from {}: world size {}, expected {}", from,
                      hello.size, size);
  }
  if (hello.rank < minRank || hello.rank > maxRank) {
    return makeStatus(Code::kMismatch, "hello from {}: rank {} outside the expected range [{}, {}]",
                      from, hello.rank, minRank, maxRank);
  }
  return Status::ok();
}

Status validateHelloFlags(const Hello& hello, uint16_t flags, const std::string& from) {
  auto checksum = [](uint16_t f) { return (f & kHelloFlagChecksum) ? "crc32c" : "none"; };
  if ((hello.flags & kHelloFlagChecksum) != (flags & kHelloFlagChecksum)) {
    return makeStatus(Code::kMismatch,
                      "hello from {}: rank {} has KOLO_TCP_CHECKSUM={}, this rank {}; every rank "
                      "of a job must use the same",
                      from, hello.rank, checksum(hello.flags), checksum(flags));
  }
  return Status::ok();
}

Status validateHelloStreams(const Hello& hello, int streams, int expectedStream,
                            const std::string& from) {
  if (hello.streams != streams) {
    return makeStatus(Code::kMismatch,
                      "hello from {}: rank {} has KOLO_TCP_STREAMS={}, this rank {}; every rank "
                      "of a job must use the same",
                      from, hello.rank, hello.streams, streams);
  }
  if (hello.stream >= streams || (expectedStream >= 0 && hello.stream != expectedStream)) {
    return makeStatus(Code::kMismatch, "hello from {}: stream {}, expected {}", from, hello.stream,
                      expectedStream >= 0 ? fmt::format("{}", expectedStream)
                                          : fmt::format("one below {}", streams));
  }
  return Status::ok();
}

Nonce freshNonce() {
  Nonce nonce{};
  size_t filled = 0;
  while (filled < nonce.size()) {
    ssize_t n = ::getrandom(nonce.data() + filled, nonce.size() - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) std::abort();  // no kernel randomness: nothing safe to fall back to
    filled += static_cast<size_t>(n);
  }
  return nonce;
}

HelloProof proveHello(std::string_view secret, HelloRole role, const Hello& connector,
                      const Hello& acceptor) {
  std::string transcript =
      role == HelloRole::kAcceptor ? "kolo tcp acceptor proof" : "kolo tcp connector proof";
  for (const Hello* hello : {&connector, &acceptor}) {
    const std::vector<std::byte> bytes = encodeHello(*hello);
    transcript.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  const std::string mac = protocol::hmacSha256(secret, transcript);
  HelloProof proof{};
  std::memcpy(proof.data(), mac.data(), std::min(mac.size(), proof.size()));
  return proof;
}

bool proofMatches(const HelloProof& received, const HelloProof& expected) {
  return CRYPTO_memcmp(received.data(), expected.data(), received.size()) == 0;
}

}  // namespace kolo::tcp
