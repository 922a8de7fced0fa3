#include "kolo/core/engine_config.h"

#include <fmt/format.h>

#include "kolo/base/env.h"
#include "kolo/core/response_cache.h"

namespace kolo::core {

EngineConfig EngineConfig::fromEnv() {
  EngineConfig c;
  c.fusion = fusionOptionsFromEnv();
  c.cacheCapacity = cacheCapacityFromEnv();
  c.cycleTimeMs = envDouble("KOLO_CYCLE_TIME", c.cycleTimeMs, {"HOROVOD_CYCLE_TIME"});
  if (!(c.cycleTimeMs > 0.0)) c.cycleTimeMs = 1.0;
  c.timelinePath = getEnv("KOLO_TIMELINE", {"HOROVOD_TIMELINE"}).value_or("");
  c.stallWarningSeconds = envDouble("KOLO_STALL_WARNING_SECONDS", c.stallWarningSeconds,
                                    {"HOROVOD_STALL_CHECK_TIME_SECONDS"});
  c.stallShutdownSeconds = envDouble("KOLO_STALL_SHUTDOWN_SECONDS", c.stallShutdownSeconds,
                                     {"HOROVOD_STALL_SHUTDOWN_TIME_SECONDS"});
  c.shutdownTimeoutSeconds = envDouble("KOLO_SHUTDOWN_TIMEOUT_SECONDS", c.shutdownTimeoutSeconds);
  c.printConfig = envBool("KOLO_PRINT_CONFIG", false);
  return c;
}

std::string EngineConfig::describe() const {
  std::string out;
  auto line = [&](const char* name, const std::string& value, const char* meaning) {
    out += fmt::format("{:<30} = {:<12} ({})\n", name, value, meaning);
  };
  line("KOLO_FUSION_THRESHOLD", std::to_string(fusion.thresholdBytes),
       "most bytes in one fusion buffer; 0 disables fusion; alias HOROVOD_FUSION_THRESHOLD");
  line("KOLO_FUSION_LARGE_TENSOR", std::to_string(fusion.largeTensorBytes),
       "tensors of at least this many bytes run in place, never packed");
  line("KOLO_CACHE_CAPACITY", std::to_string(cacheCapacity),
       "response cache entries; 0 disables; alias HOROVOD_CACHE_CAPACITY");
  line("KOLO_CYCLE_TIME", fmt::format("{}", cycleTimeMs),
       "ms; longest coordinator park on transports without wake(); alias HOROVOD_CYCLE_TIME");
  line("KOLO_TIMELINE", timelinePath.empty() ? "off" : timelinePath,
       "Chrome trace file; alias HOROVOD_TIMELINE");
  line("KOLO_STALL_WARNING_SECONDS", fmt::format("{}", stallWarningSeconds),
       "warn about tensors some ranks have not submitted; 0 disables");
  line("KOLO_STALL_SHUTDOWN_SECONDS", fmt::format("{}", stallShutdownSeconds),
       "fail stalled ops after this long; 0 disables");
  line("KOLO_SHUTDOWN_TIMEOUT_SECONDS", fmt::format("{}", shutdownTimeoutSeconds),
       "how long shutdown waits for the other ranks");
  return out;
}

}  // namespace kolo::core
