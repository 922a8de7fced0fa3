// Framing of the TCP byte stream: every message is a 20-byte header (magic u32, tag u64,
// payload length u64, all little-endian), the payload, and a 4-byte trailer: the payload's
// CRC32C (crc32c.h), little-endian. The sender folds the checksum in piece by piece as it writes
// (the bytes are in cache for the socket copy anyway) and the receiver as they land, so a
// payload corrupted in transit is an error naming the peer before its receive completes.
// Plain classes without sockets or locking, so the stream rules are unit-tested byte by byte;
// the transport's io thread only moves bytes in and out.
// Thread: whoever owns the object (the io thread in the transport).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "kolo/base/status.h"

namespace kolo::tcp {

inline constexpr uint32_t kFrameMagic = 0x464c4f4b;  // "KOLF" in memory order
inline constexpr size_t kFrameHeaderSize = 4 + 8 + 8;
inline constexpr size_t kFrameTrailerSize = 4;

using FrameHeaderBytes = std::array<std::byte, kFrameHeaderSize>;
using FrameTrailerBytes = std::array<std::byte, kFrameTrailerSize>;

class FrameEncoder {
 public:
  static FrameHeaderBytes encodeHeader(uint64_t tag, uint64_t length);
  static FrameTrailerBytes encodeTrailer(uint32_t payloadCrc);
};

// Receives the decoder's events. onPayload may be called several times per frame with
// consecutive pieces; onFrameEnd follows once the trailer confirmed the payload's checksum.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void onHeader(uint64_t tag, uint64_t length) = 0;
  virtual void onPayload(std::span<const std::byte> piece) = 0;
  virtual void onFrameEnd() = 0;
  // Asked right after onHeader: true stops feed() there, leaving the payload's bytes with the
  // caller (the receiver holds a large frame in the socket until its receive is posted).
  virtual bool pauseAfterHeader() { return false; }
};

class FrameDecoder {
 public:
  // `peer` names the other end in errors ("rank 3 (127.0.0.1:4000)"). `verify` false: trailers
  // are skipped unchecked (KOLO_TCP_CHECKSUM=none on both ends).
  explicit FrameDecoder(std::string peer, bool verify = true)
      : peer_(std::move(peer)), verify_(verify) {}

  // Consumes all of `bytes`, which may split headers, payloads and trailers anywhere. A bad
  // magic or a payload whose checksum does not match its trailer is kIoError naming the peer;
  // the decoder then stays failed (the stream cannot be trusted any more). Stops early only
  // when the sink pauses after a header; `used`, when given, is set to the bytes consumed.
  Status feed(std::span<const std::byte> bytes, FrameSink& sink, size_t* used = nullptr);

  // True between a header and the end of its payload.
  bool inPayload() const { return inPayload_; }
  uint64_t payloadRemaining() const { return inPayload_ ? remaining_ : 0; }
  // True between the end of a payload and the end of its trailer.
  bool inTrailer() const { return inTrailer_; }
  uint64_t currentTag() const { return tag_; }
  // `landed` payload bytes were delivered outside feed() (read straight into their
  // destination); they are folded into the checksum. Precondition: landed.size() <=
  // payloadRemaining(). The trailer then comes through feed().
  void skipPayload(std::span<const std::byte> landed);

 private:
  std::string peer_;
  bool verify_;
  FrameHeaderBytes header_{};
  size_t headerFill_ = 0;
  FrameTrailerBytes trailer_{};
  size_t trailerFill_ = 0;
  bool inPayload_ = false;
  bool inTrailer_ = false;
  uint64_t tag_ = 0;
  uint64_t length_ = 0;
  uint64_t remaining_ = 0;
  uint32_t crc_ = 0;
  Status failed_;

  Status takeTrailer(std::span<const std::byte>& bytes, FrameSink& sink);
};

}  // namespace kolo::tcp
