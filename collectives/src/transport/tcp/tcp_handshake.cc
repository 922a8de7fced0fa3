#include "transport/tcp/tcp_handshake.h"

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
  putLe<uint16_t>(out, 0);
  putLe<uint32_t>(out, static_cast<uint32_t>(hello.rank));
  putLe<uint32_t>(out, static_cast<uint32_t>(hello.size));
  putLe<uint32_t>(out, static_cast<uint32_t>(hello.jobId.size()));
  for (char c : hello.jobId) out.push_back(static_cast<std::byte>(c));
  return out;
}

Expected<uint32_t> decodeHelloFixed(std::span<const std::byte> fixed, Hello& out,
                                    const std::string& from) {
  if (fixed.size() < kHelloFixedSize) {
    return makeStatus(Code::kIoError, "hello from {}: {} bytes, expected {}", from, fixed.size(),
                      kHelloFixedSize);
  }
  auto magic = getLe<uint32_t>(fixed, 0);
  if (magic != kHelloMagic) {
    return makeStatus(Code::kIoError, "hello from {}: bad magic 0x{:08x} (not a Kolo rank)", from,
                      magic);
  }
  auto version = getLe<uint16_t>(fixed, 4);
  if (version != kProtocolVersion) {
    return makeStatus(Code::kMismatch, "hello from {}: protocol version {}, this build speaks {}",
                      from, version, kProtocolVersion);
  }
  out.rank = static_cast<int>(getLe<int32_t>(fixed, 8));
  out.size = static_cast<int>(getLe<int32_t>(fixed, 12));
  auto jobIdLength = getLe<uint32_t>(fixed, 16);
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

}  // namespace kolo::tcp
