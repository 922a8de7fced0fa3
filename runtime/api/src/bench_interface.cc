#include "kolo/bench_interface.h"

#include "kolo/collectives/communicator.h"
#include "session_internals.h"

namespace kolo {

Expected<Session> openBenchSession(std::shared_ptr<Communicator> world,
                                   const BenchSessionConfig& config) {
  core::EngineConfig engineConfig = SessionInternals::engineConfig(config.session);
  if (config.cycleTimeMs) engineConfig.cycleTimeMs = *config.cycleTimeMs;
  if (config.autotune) engineConfig.autotune.enabled = *config.autotune;
  KOLO_ASSIGN_OR_RETURN(std::unique_ptr<core::Engine> engine,
                        core::Engine::create(std::move(world), std::move(engineConfig)));
  return SessionInternals::wrapEngine(std::move(engine));
}

Expected<BenchSessionSettings> benchSessionSettings(const Session& session) {
  const core::Engine* engine = SessionInternals::engineOf(session);
  if (engine == nullptr) {
    return Status(Code::kInvalidUsage, "the session is not initialized or was moved");
  }
  const core::EngineConfig& config = engine->config();
  return BenchSessionSettings{config.fusion.thresholdBytes, config.fusion.largeTensorBytes,
                              config.cycleTimeMs, config.timelinePath,
                              config.autotune.enabled ? config.autotune.maxSteps() : 0};
}

}  // namespace kolo
