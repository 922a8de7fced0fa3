// Framing of the TCP byte stream: every message is a 20-byte header (magic u32, tag u64,
// payload length u64, all little-endian) followed by the payload.
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

using FrameHeaderBytes = std::array<std::byte, kFrameHeaderSize>;

class FrameEncoder {
 public:
  static FrameHeaderBytes encodeHeader(uint64_t tag, uint64_t length);
};

// Receives the decoder's events. onPayload may be called several times per frame with
// consecutive pieces; onFrameEnd follows the last piece (at once after onHeader for an empty
// payload).
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void onHeader(uint64_t tag, uint64_t length) = 0;
  virtual void onPayload(std::span<const std::byte> piece) = 0;
  virtual void onFrameEnd() = 0;
};

class FrameDecoder {
 public:
  // `peer` names the other end in errors ("rank 3 (127.0.0.1:4000)").
  explicit FrameDecoder(std::string peer) : peer_(std::move(peer)) {}

  // Consumes all of `bytes`, which may split headers and payloads anywhere. A bad magic is
  // kIoError naming the peer; the decoder then stays failed (the stream cannot be resynced).
  Status feed(std::span<const std::byte> bytes, FrameSink& sink);

  // True between a header and the end of its payload.
  bool inPayload() const { return inPayload_; }
  uint64_t payloadRemaining() const { return inPayload_ ? remaining_ : 0; }
  uint64_t currentTag() const { return tag_; }
  // `n` payload bytes were delivered outside feed() (read straight into their destination).
  // Precondition: n <= payloadRemaining(). Emits onFrameEnd when the payload is complete.
  void skipPayload(uint64_t n, FrameSink& sink);

 private:
  std::string peer_;
  FrameHeaderBytes header_{};
  size_t headerFill_ = 0;
  bool inPayload_ = false;
  uint64_t tag_ = 0;
  uint64_t remaining_ = 0;
  Status failed_;
};

}  // namespace kolo::tcp
