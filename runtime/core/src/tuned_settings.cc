#include "kolo/core/tuned_settings.h"

#include <fmt/format.h>

namespace kolo::core {
namespace {

constexpr uint64_t kValidBit = uint64_t{1} << 63;
constexpr uint64_t kSmallBelow = uint64_t{64} << 10;
constexpr uint64_t kMediumBelow = uint64_t{1} << 20;

std::string bytesText(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 20) && bytes % (uint64_t{1} << 20) == 0) {
    return fmt::format("{} MiB", bytes >> 20);
  }
  if (bytes >= 1024 && bytes % 1024 == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} B", bytes);
}

}  // namespace

size_t allreduceSizeClass(uint64_t bytes) {
  if (bytes < kSmallBelow) return 0;
  return bytes < kMediumBelow ? 1 : 2;
}

std::string_view allreduceSizeClassName(size_t sizeClass) {
  static constexpr std::string_view kNames[kTunedSizeClasses] = {"small", "medium", "large"};
  return sizeClass < kTunedSizeClasses ? kNames[sizeClass] : "?";
}

TunedSettingsWords encodeTunedSettings(const TunedSettings& settings) {
  uint64_t packed = kValidBit | settings.cycleTimeUs;
  for (size_t c = 0; c < kTunedSizeClasses; ++c) {
    packed |= static_cast<uint64_t>(settings.allreduceAlgorithm[c]) << (32 + 8 * c);
  }
  return {settings.fusionThresholdBytes, settings.largeTensorBytes, packed};
}

std::optional<TunedSettings> decodeTunedSettings(const TunedSettingsWords& words) {
  if ((words[2] & kValidBit) == 0) return std::nullopt;
  TunedSettings s;
  s.fusionThresholdBytes = words[0];
  s.largeTensorBytes = words[1];
  s.cycleTimeUs = static_cast<uint32_t>(words[2]);
  for (size_t c = 0; c < kTunedSizeClasses; ++c) {
    s.allreduceAlgorithm[c] = static_cast<uint8_t>(words[2] >> (32 + 8 * c));
  }
  return s;
}

std::string allreduceAlgorithmName(std::span<const AllreduceCandidate> known, uint8_t id) {
  if (id == 0) return "auto";
  for (const AllreduceCandidate& c : known) {
    if (c.id == id) return std::string(c.name);
  }
  return fmt::format("#{}", id);
}

std::string describeTunedSettings(const TunedSettings& settings,
                                  std::span<const AllreduceCandidate> known) {
  const auto algorithmName = [&](uint8_t id) { return allreduceAlgorithmName(known, id); };
  return fmt::format(
      "fusion threshold {}, large tensor {}, cycle time {} ms, allreduce small/medium/large "
      "{}/{}/{}",
      bytesText(settings.fusionThresholdBytes), bytesText(settings.largeTensorBytes),
      settings.cycleTimeUs / 1000.0, algorithmName(settings.allreduceAlgorithm[0]),
      algorithmName(settings.allreduceAlgorithm[1]), algorithmName(settings.allreduceAlgorithm[2]));
}

}  // namespace kolo::core
