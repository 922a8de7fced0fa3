#include "kolo/core/engine_config.h"

#include <fmt/format.h>

#include "kolo/base/settings.h"
#include "kolo/base/settings_report.h"
#include "kolo/core/response_cache.h"

namespace kolo::core {

EngineConfig EngineConfig::fromEnv() {
  EngineConfig c;
  c.fusion = fusionOptionsFromEnv();
  c.cacheCapacity = cacheCapacityFromEnv();
  c.cycleTimeMs = settingMilliseconds("KOLO_CYCLE_TIME");
  if (!(c.cycleTimeMs > 0.0)) c.cycleTimeMs = 1.0;
  c.timelinePath = settingText("KOLO_TIMELINE").value_or("");
  c.stallWarningSeconds = settingSeconds("KOLO_STALL_WARNING_SECONDS");
  c.stallShutdownSeconds = settingSeconds("KOLO_STALL_SHUTDOWN_SECONDS");
  c.shutdownTimeoutSeconds = settingSeconds("KOLO_SHUTDOWN_TIMEOUT_SECONDS");
  c.printConfig = settingBool("KOLO_PRINT_CONFIG");
  c.autotune = AutotuneOptions::fromEnv();
  c.metrics = MetricsOptions::fromEnv();
  return c;
}

MetricsOptions MetricsOptions::fromEnv() {
  MetricsOptions o;
  o.port = settingIntIfSet("KOLO_METRICS_PORT");
  o.address = settingTextOrDefault("KOLO_METRICS_ADDR");
  o.file = settingText("KOLO_METRICS_FILE").value_or("");
  o.intervalSeconds = settingSeconds("KOLO_METRICS_INTERVAL");
  if (!(o.intervalSeconds > 0.0)) o.intervalSeconds = 1.0;
  return o;
}

std::string EngineConfig::describe() const {
  // The values this config holds, which the program (kolo.init's arguments) may have changed
  // from what the environment says; the table marks those "program".
  const HeldSetting held[] = {
      {"KOLO_FUSION_THRESHOLD", std::to_string(fusion.thresholdBytes)},
      {"KOLO_FUSION_LARGE_TENSOR", std::to_string(fusion.largeTensorBytes)},
      {"KOLO_CACHE_CAPACITY", std::to_string(cacheCapacity)},
      {"KOLO_CYCLE_TIME", fmt::format("{}", cycleTimeMs)},
      {"KOLO_TIMELINE", timelinePath.empty() ? "off" : timelinePath},
      {"KOLO_STALL_WARNING_SECONDS", fmt::format("{}", stallWarningSeconds)},
      {"KOLO_STALL_SHUTDOWN_SECONDS", fmt::format("{}", stallShutdownSeconds)},
      {"KOLO_SHUTDOWN_TIMEOUT_SECONDS", fmt::format("{}", shutdownTimeoutSeconds)},
      {"KOLO_PRINT_CONFIG", printConfig ? "1" : "0"},
      {"KOLO_AUTOTUNE", autotune.enabled ? "1" : "0"},
  };
  return settingsInEffectTable(held);
}

}  // namespace kolo::core
