// The rendezvous store's wire format, shared by kolorun's server and the runtime's TcpStore.
// Header-only and free of sockets: framing, the nonce handshake and per-message authentication
// are plain classes, so every rejection path is tested by feeding bytes.
//
// Framing: u32 big-endian body length, then the body; a length above kMaxFrameBytes is rejected
// before anything is allocated. The first frame (server to client) is a challenge: kChallengeMagic
// then a fresh 32-byte nonce. Every later frame in both directions is
//   u64 sequence | u8 op | payload | HMAC-SHA256(secret, nonce | direction | sequence | op |
//   payload)
// Sequences start at 0 per direction and must arrive in order, so a replayed or reordered frame
// fails; the nonce binds every MAC to one connection, so a frame copied from another connection
// fails too. The client's first frame is kHello (its rank); the server answers kWelcome, which
// proves to the client that the server holds the secret as well.
//
// Thread: any; one MessageCodec per connection, used by one thread at a time.
#pragma once

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "kolo/base/status.h"

namespace kolo::protocol {

inline constexpr size_t kSecretBytes = 32;
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kMacBytes = 32;
// Store values are addresses, shm names and NCCL ids: small. 16 MiB leaves room and still
// bounds what one malformed length can make a peer allocate.
inline constexpr uint32_t kMaxFrameBytes = 16u << 20;
// Largest frame accepted before the peer has authenticated: a hello is 45 bytes.
inline constexpr uint32_t kMaxHandshakeFrameBytes = 256;
inline constexpr std::string_view kChallengeMagic = "KOLOSTR1";
// kHello's rank for clients that are not a rank (tools, tests).
inline constexpr uint32_t kNoRank = 0xFFFFFFFFu;
// kGet's timeout meaning "wait forever".
inline constexpr uint64_t kWaitForever = ~uint64_t{0};

enum class StoreOp : uint8_t {
  kHello = 1,    // client: u32 rank
  kWelcome = 2,  // server: empty
  kSet = 3,      // client: str key, str value          -> kValue(empty)
  kGet = 4,      // client: str key, u64 timeout ms      -> kValue(value) or kError(kTimeout)
  kAdd = 5,      // client: str key, i64 delta           -> kValue(decimal result)
  kValue = 6,    // server: str value
  kError = 7,    // server: u8 code, str message
};

inline const char* storeOpName(StoreOp op) {
  switch (op) {
    case StoreOp::kHello:
      return "hello";
    case StoreOp::kWelcome:
      return "welcome";
    case StoreOp::kSet:
      return "set";
    case StoreOp::kGet:
      return "get";
    case StoreOp::kAdd:
      return "add";
    case StoreOp::kValue:
      return "value";
    case StoreOp::kError:
      return "error";
  }
  return "unknown";
}

// ---- byte helpers -------------------------------------------------------------------------

class PayloadWriter {
 public:
  PayloadWriter& u8(uint8_t v) {
    bytes_.push_back(static_cast<char>(v));
    return *this;
  }
  PayloadWriter& u32(uint32_t v) { return be(v, 4); }
  PayloadWriter& u64(uint64_t v) { return be(v, 8); }
  PayloadWriter& i64(int64_t v) { return be(static_cast<uint64_t>(v), 8); }
  PayloadWriter& str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    bytes_.append(s);
    return *this;
  }
  PayloadWriter& raw(std::string_view s) {
    bytes_.append(s);
    return *this;
  }
  const std::string& bytes() const { return bytes_; }
  std::string take() { return std::move(bytes_); }

 private:
  PayloadWriter& be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) bytes_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    return *this;
  }
  std::string bytes_;
};

// Reads fields in order; any read past the end sets failed() and yields zero values, so a
// decoder checks once at the end instead of after every field.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view bytes) : bytes_(bytes) {}
  uint8_t u8() { return static_cast<uint8_t>(be(1)); }
  uint32_t u32() { return static_cast<uint32_t>(be(4)); }
  uint64_t u64() { return be(8); }
  int64_t i64() { return static_cast<int64_t>(be(8)); }
  std::string str() {
    uint32_t n = u32();
    if (failed_ || n > bytes_.size() - pos_) {
      failed_ = true;
      return {};
    }
    std::string s(bytes_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  bool failed() const { return failed_; }
  // True when every byte was consumed and nothing was missing.
  bool complete() const { return !failed_ && pos_ == bytes_.size(); }

 private:
  uint64_t be(size_t n) {
    if (failed_ || bytes_.size() - pos_ < n) {
      failed_ = true;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(bytes_[pos_ + i]);
    pos_ += n;
    return v;
  }
  std::string_view bytes_;
  size_t pos_ = 0;
  bool failed_ = false;
};

inline std::string toHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto b = static_cast<uint8_t>(c);
    hex.push_back(kDigits[b >> 4]);
    hex.push_back(kDigits[b & 0xF]);
  }
  return hex;
}

inline std::optional<std::string> fromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = digit(hex[i]);
    int lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(hi * 16 + lo));
  }
  return bytes;
}

// KOLO_SECRET's text -> the 32 secret bytes, or an error that never echoes the value.
inline Expected<std::string> decodeSecret(std::string_view hex) {
  auto bytes = fromHex(hex);
  if (!bytes || bytes->size() != kSecretBytes) {
    return makeStatus(Code::kInvalidArgument,
                      "KOLO_SECRET must be {} hex digits (got {} characters)", 2 * kSecretBytes,
                      hex.size());
  }
  return std::move(*bytes);
}

inline std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length);
  return std::string(reinterpret_cast<const char*>(out), length);
}

// ---- framing ------------------------------------------------------------------------------

inline std::string encodeFrame(std::string_view body) {
  PayloadWriter w;
  w.u32(static_cast<uint32_t>(body.size())).raw(body);
  return w.take();
}

// Splits a byte stream into frame bodies. After an error the decoder stays failed: the stream
// has lost its framing and the connection must be closed.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t maxFrameBytes = kMaxFrameBytes) : max_(maxFrameBytes) {}

  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // A server lowers the cap until the peer has authenticated, so a stranger cannot make it
  // buffer megabytes per connection.
  void setMaxFrameBytes(uint32_t maxFrameBytes) { max_ = maxFrameBytes; }

  // The next complete body, nullopt when more bytes are needed, or an error for an oversized
  // length (checked as soon as the 4 length bytes are in, before the body is buffered).
  Expected<std::optional<std::string>> next() {
    if (!error_.isOk()) return error_;
    if (buffer_.size() - pos_ < 4) return std::optional<std::string>();
    PayloadReader header(std::string_view(buffer_).substr(pos_, 4));
    uint32_t length = header.u32();
    if (length > max_) {
      error_ = makeStatus(Code::kInvalidArgument, "frame of {} bytes exceeds the limit of {}",
                          length, max_);
      buffer_.clear();
      pos_ = 0;
      return error_;
    }
    if (buffer_.size() - pos_ - 4 < length) return std::optional<std::string>();
    std::string body = buffer_.substr(pos_ + 4, length);
    pos_ += 4 + length;
    if (pos_ == buffer_.size()) {
      buffer_.clear();
      pos_ = 0;
    } else if (pos_ > 64 * 1024) {
      buffer_.erase(0, pos_);
      pos_ = 0;
    }
    return std::optional<std::string>(std::move(body));
  }

  size_t buffered() const { return buffer_.size() - pos_; }

 private:
  uint32_t max_;
  std::string buffer_;
  size_t pos_ = 0;
  Status error_;
};

// ---- handshake and authenticated messages ---------------------------------------------------

inline std::string encodeChallenge(std::string_view nonce) {
  return std::string(kChallengeMagic) + std::string(nonce);
}

inline Expected<std::string> decodeChallenge(std::string_view body) {
  if (body.size() != kChallengeMagic.size() + kNonceBytes ||
      body.substr(0, kChallengeMagic.size()) != kChallengeMagic) {
    return makeStatus(Code::kMismatch, "the peer is not a Kolo store (bad challenge of {} bytes)",
                      body.size());
  }
  return std::string(body.substr(kChallengeMagic.size()));
}

struct StoreMessage {
  StoreOp op = StoreOp::kError;
  std::string payload;
};

enum class StoreRole { kClient, kServer };

// Seals outgoing and opens incoming messages of one connection.
class MessageCodec {
 public:
  MessageCodec(std::string secret, std::string nonce, StoreRole role)
      : secret_(std::move(secret)), nonce_(std::move(nonce)), role_(role) {}

  std::string seal(StoreOp op, std::string_view payload) {
    PayloadWriter w;
    w.u64(sendSeq_).u8(static_cast<uint8_t>(op)).raw(payload);
    std::string mac = macFor(sendDirection(), w.bytes());
    ++sendSeq_;
    w.raw(mac);
    return w.take();
  }

  // Verifies the MAC (constant time) and the sequence number. An error names what was wrong
  // but never the expected MAC.
  Expected<StoreMessage> open(std::string_view body) {
    if (body.size() < 8 + 1 + kMacBytes) {
      return makeStatus(Code::kInvalidArgument,
                        "message of {} bytes is shorter than the minimum {}", body.size(),
                        8 + 1 + kMacBytes);
    }
    std::string_view signedPart = body.substr(0, body.size() - kMacBytes);
    std::string_view mac = body.substr(body.size() - kMacBytes);
    std::string want = macFor(receiveDirection(), signedPart);
    if (CRYPTO_memcmp(want.data(), mac.data(), kMacBytes) != 0) {
      return Status(Code::kMismatch,
                    "message authentication failed (wrong secret, or the message was altered or "
                    "copied from another connection)");
    }
    PayloadReader r(signedPart);
    uint64_t seq = r.u64();
    auto op = static_cast<StoreOp>(r.u8());
    if (seq != receiveSeq_) {
      return makeStatus(Code::kMismatch,
                        "message sequence {} where {} was expected (replayed or reordered)", seq,
                        receiveSeq_);
    }
    ++receiveSeq_;
    return StoreMessage{op, std::string(signedPart.substr(9))};
  }

 private:
  char sendDirection() const { return role_ == StoreRole::kClient ? 'C' : 'S'; }
  char receiveDirection() const { return role_ == StoreRole::kClient ? 'S' : 'C'; }
  std::string macFor(char direction, std::string_view signedPart) const {
    std::string data;
    data.reserve(nonce_.size() + 1 + signedPart.size());
    data.append(nonce_).push_back(direction);
    data.append(signedPart);
    return hmacSha256(secret_, data);
  }

  std::string secret_;
  std::string nonce_;
  StoreRole role_;
  uint64_t sendSeq_ = 0;
  uint64_t receiveSeq_ = 0;
};

// Encodes kError's payload; decodeError returns the Status it carries.
inline std::string encodeError(const Status& status) {
  PayloadWriter w;
  w.u8(static_cast<uint8_t>(status.code())).str(status.message());
  return w.take();
}

inline Status decodeError(std::string_view payload) {
  PayloadReader r(payload);
  auto code = static_cast<Code>(r.u8());
  std::string message = r.str();
  if (!r.complete()) return Status(Code::kRemoteError, "malformed error reply from the store");
  if (code == Code::kOk || static_cast<int>(code) > static_cast<int>(Code::kInternal)) {
    code = Code::kRemoteError;
  }
  return Status(code, std::move(message));
}

}  // namespace kolo::protocol
