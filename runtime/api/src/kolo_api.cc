// The public C++ API over core::Engine, which takes the same Tensor and OpOptions
// (kolo/core/tensor.h): a session forwards them unchanged and wraps the Engine's handles.
#include <algorithm>
#include <cstdlib>

#include "kolo/base/env.h"
#include "kolo/base/settings.h"
#include "kolo/collectives/gpu.h"
#include "kolo/collectives/world.h"
#include "kolo/core/engine.h"
#include "kolo/core/flight_stacks.h"
#include "kolo/kolo.hpp"
#include "kolo/protocol/env_contract.h"
#include "session_internals.h"

namespace kolo {
namespace {

int envRankOr(const char* name, int fallback) {
  return static_cast<int>(settingIntIfSet(name).value_or(fallback));
}

}  // namespace

BuildInfo buildInfo() {
  const gpu::BuildInfo g = gpu::buildInfo();
  return BuildInfo{builtWithMpi(), g.cuda, g.nccl, g.ncclVersion};
}

std::string stackDumpPath() {
  return core::flightStacksPath();
}

bool Handle::poll() const {
  return impl_ && impl_->handle.poll();
}

Status Handle::wait(double timeoutSeconds) const {
  if (!impl_) return Status(Code::kInvalidUsage, "wait() on an empty handle");
  return impl_->handle.wait(timeoutSeconds < 0 ? Deadline::never()
                                               : Deadline::afterSeconds(timeoutSeconds));
}

Status Handle::status() const {
  if (!impl_) return Status(Code::kInvalidUsage, "status() of an empty handle");
  return impl_->handle.status();
}

const void* Handle::outputData(size_t part) const {
  return poll() && part < outputCount() ? impl_->handle.result(part).bytes() : nullptr;
}
size_t Handle::outputBytes(size_t part) const {
  return poll() && part < outputCount() ? impl_->handle.result(part).size() : 0;
}
std::vector<int64_t> Handle::outputShape(size_t part) const {
  return poll() && part < outputCount() ? impl_->handle.result(part).shape
                                        : std::vector<int64_t>{};
}
size_t Handle::outputCount() const {
  return impl_ ? impl_->handle.parts() : 0;
}
std::vector<int64_t> Handle::receivedSplits() const {
  return poll() ? impl_->handle.result().receivedSplits : std::vector<int64_t>{};
}
int32_t Handle::lastJoinedRank() const {
  return poll() ? impl_->handle.result().lastJoinedRank : -1;
}

core::EngineConfig SessionInternals::engineConfig(const SessionConfig& config) {
  core::EngineConfig c = core::EngineConfig::fromEnv();
  if (config.fusionThresholdBytes) c.fusion.thresholdBytes = *config.fusionThresholdBytes;
  if (config.cacheCapacity) c.cacheCapacity = *config.cacheCapacity;
  if (config.stallWarningSeconds) c.stallWarningSeconds = *config.stallWarningSeconds;
  if (config.stallShutdownSeconds) c.stallShutdownSeconds = *config.stallShutdownSeconds;
  if (config.timelinePath) c.timelinePath = *config.timelinePath;
  return c;
}

Session SessionInternals::wrapEngine(std::unique_ptr<core::Engine> engine) {
  auto impl = std::make_shared<Session::Impl>();
  impl->engine = std::move(engine);
  const int rank = impl->engine->rank();
  const int size = impl->engine->size();
  impl->localRank = envRankOr(protocol::kEnvLocalRank,
                              static_cast<int>(envInt("OMPI_COMM_WORLD_LOCAL_RANK", rank)));
  impl->localSize = envRankOr(protocol::kEnvLocalSize,
                              static_cast<int>(envInt("OMPI_COMM_WORLD_LOCAL_SIZE", size)));
  impl->crossRank = envRankOr(protocol::kEnvCrossRank, 0);
  impl->crossSize = envRankOr(protocol::kEnvCrossSize, 1);
  if (const auto& placement = impl->engine->placement()) {
    impl->localRank = placement->localRank;
    impl->localSize = placement->localSize;
    impl->crossRank = placement->crossRank;
    impl->crossSize = placement->crossSize;
  }
  return Session(std::move(impl));
}

const core::Engine* SessionInternals::engineOf(const Session& session) {
  return session.impl_ ? session.impl_->engine.get() : nullptr;
}

Expected<Session> Session::init(const SessionConfig& config) {
  KOLO_ASSIGN_OR_RETURN(std::unique_ptr<core::Engine> engine,
                        core::Engine::fromEnv(SessionInternals::engineConfig(config)));
  return SessionInternals::wrapEngine(std::move(engine));
}

int Session::rank() const {
  return impl_ && impl_->engine ? impl_->engine->rank() : -1;
}
int Session::size() const {
  return impl_ && impl_->engine ? impl_->engine->size() : 0;
}
int Session::localRank() const {
  return impl_ ? impl_->localRank : -1;
}
int Session::localSize() const {
  return impl_ ? impl_->localSize : 0;
}
int Session::crossRank() const {
  return impl_ ? impl_->crossRank : -1;
}
int Session::crossSize() const {
  return impl_ ? impl_->crossSize : 0;
}

#define KOLO_API_ENGINE()                                                              \
  if (!impl_ || !impl_->engine) {                                                      \
    return Status(Code::kInvalidUsage, "the session is not initialized or was moved"); \
  }                                                                                    \
  core::Engine& engine = *impl_->engine

Expected<Handle> Session::allreduce(const std::string& name, const Tensor& tensor,
                                    const OpOptions& options) const {
  KOLO_API_ENGINE();
  return impl_->wrap(engine.allreduce(name, tensor, options));
}

Expected<Handle> Session::groupedAllreduce(const std::vector<std::string>& names,
                                           const std::vector<Tensor>& tensors,
                                           const OpOptions& options) const {
  KOLO_API_ENGINE();
  return impl_->wrap(engine.groupedAllreduce(names, tensors, options));
}

Expected<Handle> Session::allgather(const std::string& name, const Tensor& tensor,
                                    const OpOptions& options) const {
  KOLO_API_ENGINE();
  return impl_->wrap(engine.allgather(name, tensor, options));
}

Expected<Handle> Session::broadcast(const std::string& name, const Tensor& tensor,
                                    const OpOptions& options) const {
  KOLO_API_ENGINE();
  return impl_->wrap(engine.broadcast(name, tensor, options));
}

Expected<Handle> Session::alltoall(const std::string& name, const Tensor& tensor,
                                   const OpOptions& options) const {
  KOLO_API_ENGINE();
  return impl_->wrap(engine.alltoall(name, tensor, options));
}

Expected<Handle> Session::reducescatter(const std::string& name, const Tensor& tensor,
                                        const OpOptions& options) const {
  KOLO_API_ENGINE();
  return impl_->wrap(engine.reducescatter(name, tensor, options));
}

Expected<Handle> Session::groupedAllgather(const std::vector<std::string>& names,
                                           const std::vector<Tensor>& tensors,
                                           const OpOptions& options) const {
  KOLO_API_ENGINE();
  return impl_->wrap(engine.groupedAllgather(names, tensors, options));
}

Expected<Handle> Session::groupedReducescatter(const std::vector<std::string>& names,
                                               const std::vector<Tensor>& tensors,
                                               const OpOptions& options) const {
  KOLO_API_ENGINE();
  return impl_->wrap(engine.groupedReducescatter(names, tensors, options));
}

Expected<Handle> Session::barrier(const std::string& name, const OpOptions& options) const {
  KOLO_API_ENGINE();
  return impl_->wrap(engine.barrier(name, options));
}

Expected<Handle> Session::join(const OpOptions& options) const {
  KOLO_API_ENGINE();
  return impl_->wrap(engine.join(options));
}

Expected<Handle> Session::send(const Tensor& tensor, int32_t peer, int32_t tag,
                               const OpOptions& options) const {
  KOLO_API_ENGINE();
  return impl_->wrap(engine.send(tensor, peer, tag, options));
}

Expected<Handle> Session::recv(const Tensor& tensor, int32_t peer, int32_t tag,
                               const OpOptions& options) const {
  KOLO_API_ENGINE();
  return impl_->wrap(engine.recv(tensor, peer, tag, options));
}

Expected<int32_t> Session::addProcessSet(const std::vector<int32_t>& ranks) const {
  KOLO_API_ENGINE();
  return engine.addProcessSet(ranks);
}

Status Session::removeProcessSet(int32_t id) const {
  KOLO_API_ENGINE();
  return engine.removeProcessSet(id);
}

Status Session::startTimeline(const std::string& path, bool markCycles) const {
  KOLO_API_ENGINE();
  return engine.startTimeline(path, markCycles);
}

Expected<std::pair<int64_t, int64_t>> Session::membershipGeneration() const {
  if (!impl_ || !impl_->engine) {
    return Status(Code::kInvalidUsage, "the session is not initialized or was moved");
  }
  KOLO_ASSIGN_OR_RETURN(int64_t latest, impl_->engine->latestGeneration());
  return std::make_pair(impl_->engine->joinedGeneration(), latest);
}

Status Session::stopTimeline() const {
  KOLO_API_ENGINE();
  return engine.stopTimeline();
}

Status Session::shutdown() const {
  KOLO_API_ENGINE();
  return engine.shutdown();
}

}  // namespace kolo
