// WireWriter / WireReader: the little-endian, varint-based encoding under the request and
// response messages. The reader never trusts a length: every read is checked against what is
// left, and a count is bounded by the bytes left before anything is allocated.
// Thread: caller's (plain values).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "kolo/base/status.h"

namespace kolo::core::wire {

class WireWriter {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
  void u32Fixed(uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<uint8_t>(v >> (8 * i)));
  }
  // LEB128: small counts and dimensions take one byte instead of eight.
  void varint(uint64_t v) {
    while (v >= 0x80) {
      u8(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    u8(static_cast<uint8_t>(v));
  }
  // Zigzag keeps -1 (no group, CPU device) at one byte.
  void svarint(int64_t v) {
    varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void f64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    for (int i = 0; i < 8; ++i) u8(static_cast<uint8_t>(bits >> (8 * i)));
  }
  void str(const std::string& s) {
    varint(s.size());
    for (char c : s) u8(static_cast<uint8_t>(c));
  }
  void svarints(const std::vector<int64_t>& values) {
    varint(values.size());
    for (int64_t v : values) svarint(v);
  }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  std::vector<std::byte> out_;
};

class WireReader {
 public:
  explicit WireReader(std::span<const std::byte> in) : in_(in) {}

  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }

  Status u8(uint8_t& v) {
    if (remaining() < 1) return truncated(1);
    v = static_cast<uint8_t>(in_[pos_++]);
    return Status::ok();
  }
  Status u32Fixed(uint32_t& v) {
    if (remaining() < 4) return truncated(4);
    v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(in_[pos_++]) << (8 * i);
    return Status::ok();
  }
  Status varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = 0;
      KOLO_RETURN_IF_ERROR(u8(b));
      if (shift == 63 && b > 1) break;  // would overflow 64 bits
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return Status::ok();
    }
    return makeStatus(Code::kInvalidArgument, "malformed varint at byte {}", pos_);
  }
  Status svarint(int64_t& v) {
    uint64_t u = 0;
    KOLO_RETURN_IF_ERROR(varint(u));
    v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return Status::ok();
  }
  Status i32(int32_t& v, const char* field) {
    int64_t wide = 0;
    KOLO_RETURN_IF_ERROR(svarint(wide));
    if (wide < INT32_MIN || wide > INT32_MAX) {
      return makeStatus(Code::kInvalidArgument, "{} {} does not fit in 32 bits", field, wide);
    }
    v = static_cast<int32_t>(wide);
    return Status::ok();
  }
  Status f64(double& v) {
    if (remaining() < 8) return truncated(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits |= static_cast<uint64_t>(in_[pos_++]) << (8 * i);
    std::memcpy(&v, &bits, sizeof v);
    return Status::ok();
  }
  // A count of items that each take at least `minItemBytes`: bounded by what is left, so
  // garbage cannot make us reserve gigabytes.
  Status count(uint64_t& n, size_t minItemBytes, const char* what) {
    KOLO_RETURN_IF_ERROR(varint(n));
    if (n > remaining() / (minItemBytes == 0 ? 1 : minItemBytes)) {
      return makeStatus(Code::kInvalidArgument,
                        "{} count {} exceeds the {} bytes left in the message", what, n,
                        remaining());
    }
    return Status::ok();
  }
  Status str(std::string& s, const char* what) {
    uint64_t n = 0;
    KOLO_RETURN_IF_ERROR(varint(n));
    if (n > remaining()) {
      return makeStatus(Code::kInvalidArgument,
                        "message truncated: {} of {} bytes at byte {}, but only {} bytes left",
                        what, n, pos_, remaining());
    }
    s.assign(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return Status::ok();
  }
  Status svarints(std::vector<int64_t>& values, const char* what) {
    uint64_t n = 0;
    KOLO_RETURN_IF_ERROR(count(n, 1, what));
    values.resize(n);
    for (auto& v : values) KOLO_RETURN_IF_ERROR(svarint(v));
    return Status::ok();
  }
  Status finish(const char* what) const {
    if (remaining() != 0) {
      return makeStatus(Code::kInvalidArgument, "{}: {} trailing bytes after {} bytes", what,
                        remaining(), pos_);
    }
    return Status::ok();
  }

 private:
  Status truncated(size_t wanted) const {
    return makeStatus(Code::kInvalidArgument,
                      "message truncated: needed {} more bytes at byte {} of {}", wanted, pos_,
                      in_.size());
  }

  std::span<const std::byte> in_;
  size_t pos_ = 0;
};

}  // namespace kolo::core::wire
