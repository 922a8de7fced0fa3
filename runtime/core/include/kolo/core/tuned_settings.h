// TunedSettings: the knobs the autotuner (autotuner.h) varies while a job runs: the fusion
// threshold, the large-tensor cutoff, the coordinator's cycle time and the allreduce algorithm
// per size class. Every member of a process set must run a cycle with the same settings (fusion
// decides which tensors share a collective, the algorithm how the bytes move), so the set's
// rank 0 sends them in its vote of every cycle (ControlExchange) as kTunedSettingsWords words,
// and every member applies what rank 0 sent in that same cycle.
// Thread: any (plain values and pure functions).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace kolo::core {

// Allreduce size classes, by the bytes of one collective call: small [0, 64K) (latency-bound),
// medium [64K, 1M), large [1M, inf) (bandwidth-bound).
inline constexpr size_t kTunedSizeClasses = 3;
size_t allreduceSizeClass(uint64_t bytes);
std::string_view allreduceSizeClassName(size_t sizeClass);  // "small", "medium", "large"

struct TunedSettings {
  uint64_t fusionThresholdBytes = uint64_t{64} << 20;  // KOLO_FUSION_THRESHOLD
  uint64_t largeTensorBytes = uint64_t{1} << 20;       // KOLO_FUSION_LARGE_TENSOR
  uint32_t cycleTimeUs = 1000;                         // KOLO_CYCLE_TIME, in microseconds
  // The allreduce registry id per size class (algorithm_registry.h); 0: auto (the selector
  // under KOLO_ALLREDUCE_ALGO).
  std::array<uint8_t, kTunedSizeClasses> allreduceAlgorithm{};

  bool operator==(const TunedSettings&) const = default;
};

// The wire form: [0] fusion threshold, [1] large-tensor bytes, [2] a valid bit (63), the
// algorithm ids (bits 32-55, one byte per class) and the cycle time in microseconds (bits 0-31).
// All zero: "no tuned settings", each member keeps its own configuration.
inline constexpr size_t kTunedSettingsWords = 3;
using TunedSettingsWords = std::array<uint64_t, kTunedSettingsWords>;
TunedSettingsWords encodeTunedSettings(const TunedSettings& settings);
// nullopt when the valid bit is clear.
std::optional<TunedSettings> decodeTunedSettings(const TunedSettingsWords& words);

// The algorithm name each size class runs with ("auto" or a registry name), as OpExecutor
// passes it to coll::allreduce. Names point at static storage (the registry's table).
struct AllreduceAlgorithms {
  std::array<std::string_view, kTunedSizeClasses> byClass{"auto", "auto", "auto"};
  std::string_view forBytes(uint64_t bytes) const { return byClass[allreduceSizeClass(bytes)]; }
};

// An allreduce algorithm the tuner may pick: its registry id (0: auto) and name (static storage).
struct AllreduceCandidate {
  uint8_t id = 0;
  std::string_view name = "auto";
};
// The name of `id` among `known`; "auto" for 0, "#<id>" for an id not among them.
std::string allreduceAlgorithmName(std::span<const AllreduceCandidate> known, uint8_t id);

// "fusion threshold 4 MiB, large tensor 1 MiB, cycle time 1 ms, allreduce small/medium/large
// auto/rd/ring", names from `known`.
std::string describeTunedSettings(const TunedSettings& settings,
                                  std::span<const AllreduceCandidate> known);

}  // namespace kolo::core
