// EngineConfig: the coordinator's knobs, read from the environment once when a session starts
// through the declared settings (kolo/base/settings.h: name, Horovod alias, type, default).
// KOLO_PRINT_CONFIG=1 prints the whole settings table on rank 0, with this config's values.
// Thread: any (plain value).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "kolo/core/autotuner.h"
#include "kolo/core/fusion_planner.h"

namespace kolo::core {

// Live metrics (docs/ARCHITECTURE.md "Live metrics"); off unless a port or a file is set.
struct MetricsOptions {
  std::optional<int64_t> port;   // KOLO_METRICS_PORT
  std::string address;           // KOLO_METRICS_ADDR
  std::string file;              // KOLO_METRICS_FILE ("%h": the host name)
  double intervalSeconds = 1.0;  // KOLO_METRICS_INTERVAL
  bool enabled() const { return port.has_value() || !file.empty(); }
  static MetricsOptions fromEnv();
};

struct EngineConfig {
  FusionOptions fusion;         // KOLO_FUSION_THRESHOLD, KOLO_FUSION_LARGE_TENSOR
  size_t cacheCapacity = 1024;  // KOLO_CACHE_CAPACITY
  // Longest the coordinator parks in one slice when the transport cannot be woken from
  // another thread (KOLO_CYCLE_TIME in ms, alias HOROVOD_CYCLE_TIME). Transports with wake()
  // never park on it while work is waiting.
  double cycleTimeMs = 1.0;
  std::string timelinePath;              // KOLO_TIMELINE (Chrome trace JSON); empty: off
  double stallWarningSeconds = 60.0;     // KOLO_STALL_WARNING_SECONDS; 0 disables
  double stallShutdownSeconds = 600.0;   // KOLO_STALL_SHUTDOWN_SECONDS; 0 disables
  double shutdownTimeoutSeconds = 30.0;  // KOLO_SHUTDOWN_TIMEOUT_SECONDS
  bool printConfig = false;              // KOLO_PRINT_CONFIG
  AutotuneOptions autotune;              // KOLO_AUTOTUNE, KOLO_AUTOTUNE_*
  MetricsOptions metrics;                // KOLO_METRICS_*

  static EngineConfig fromEnv();
  // Every setting: name, value in effect (this config's where it holds one), source, meaning.
  std::string describe() const;
};

}  // namespace kolo::core
