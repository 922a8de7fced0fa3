#include "transport/tcp/frame_codec.h"

#include <algorithm>
#include <cstring>

#include "transport/tcp/crc32c.h"

namespace kolo::tcp {
namespace {

template <typename T>
void storeLe(std::byte* out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[i] = static_cast<std::byte>((value >> (8 * i)) & 0xff);
  }
}

template <typename T>
T loadLe(const std::byte* in) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    value |= static_cast<T>(std::to_integer<uint8_t>(in[i])) << (8 * i);
  }
  return value;
}

}  // namespace

FrameHeaderBytes FrameEncoder::encodeHeader(uint64_t tag, uint64_t length) {
  FrameHeaderBytes out{};
  storeLe<uint32_t>(out.data(), kFrameMagic);
  storeLe<uint64_t>(out.data() + 4, tag);
  storeLe<uint64_t>(out.data() + 12, length);
  return out;
}

FrameTrailerBytes FrameEncoder::encodeTrailer(uint32_t payloadCrc) {
  FrameTrailerBytes out{};
  storeLe<uint32_t>(out.data(), payloadCrc);
  return out;
}

Status FrameDecoder::feed(std::span<const std::byte> bytes, FrameSink& sink, size_t* used) {
  if (!failed_.isOk()) return failed_;
  const size_t offered = bytes.size();
  if (used != nullptr) *used = offered;
  while (!bytes.empty()) {
    if (inPayload_) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size()));
      sink.onPayload(bytes.first(n));
      skipPayload(bytes.first(n));
      bytes = bytes.subspan(n);
      continue;
    }
    if (inTrailer_) {
      KOLO_RETURN_IF_ERROR(takeTrailer(bytes, sink));
      continue;
    }
    size_t n = std::min(kFrameHeaderSize - headerFill_, bytes.size());
    std::memcpy(header_.data() + headerFill_, bytes.data(), n);
    headerFill_ += n;
    bytes = bytes.subspan(n);
    if (headerFill_ < kFrameHeaderSize) break;
    headerFill_ = 0;
    auto magic = loadLe<uint32_t>(header_.data());
    if (magic != kFrameMagic) {
      failed_ = makeStatus(Code::kIoError,
                           "bad frame header from {}: magic 0x{:08x}, expected 0x{:08x} (the "
                           "stream is corrupt or the peer is not a Kolo rank)",
                           peer_, magic, kFrameMagic);
      return failed_;
    }
    tag_ = loadLe<uint64_t>(header_.data() + 4);
    length_ = remaining_ = loadLe<uint64_t>(header_.data() + 12);
    crc_ = 0;
    inPayload_ = remaining_ > 0;
    inTrailer_ = remaining_ == 0;
    sink.onHeader(tag_, remaining_);
    if (sink.pauseAfterHeader()) {
      if (used != nullptr) *used = offered - bytes.size();
      break;
    }
  }
  return Status::ok();
}

Status FrameDecoder::takeTrailer(std::span<const std::byte>& bytes, FrameSink& sink) {
  size_t n = std::min(kFrameTrailerSize - trailerFill_, bytes.size());
  std::memcpy(trailer_.data() + trailerFill_, bytes.data(), n);
  trailerFill_ += n;
  bytes = bytes.subspan(n);
  if (trailerFill_ < kFrameTrailerSize) return Status::ok();
  trailerFill_ = 0;
  inTrailer_ = false;
  const auto sent = loadLe<uint32_t>(trailer_.data());
  if (verify_ && sent != crc_) {
    failed_ = makeStatus(Code::kIoError,
                         "the {} B payload from {} (tag 0x{:x}) failed its CRC32C check (sent "
                         "0x{:08x}, arrived as 0x{:08x}): the data was corrupted in transit",
                         length_, peer_, tag_, sent, crc_);
    return failed_;
  }
  sink.onFrameEnd();
  return Status::ok();
}

void FrameDecoder::skipPayload(std::span<const std::byte> landed) {
  if (verify_) crc_ = crc32cExtend(crc_, landed);
  remaining_ -= landed.size();
  if (remaining_ == 0) {
    inPayload_ = false;
    inTrailer_ = true;
  }
}

}  // namespace kolo::tcp
