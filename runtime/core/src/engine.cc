#include "kolo/core/engine.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>

#include "kolo/base/fault_injection.h"
#include "kolo/base/logging.h"
#include "kolo/base/settings.h"
#include "kolo/base/settings_report.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/world.h"
#include "kolo/core/elastic_round.h"
#include "kolo/protocol/elastic.h"
#include "kolo/protocol/env_contract.h"
#include "flight_recorder.h"
#include "job_abort_watcher.h"
#include "live_status.h"
#include "process_set_runtime.h"
#include "submit_validation.h"
#include "metrics_publisher.h"
#include "timeline.h"
#include "transport_view.h"

namespace kolo::core {
namespace {

constexpr const char* kJoinName = "kolo.join";
constexpr int32_t kMaxProcessSets = 127;  // the tag space of TransportView

// Grouped allreduces carry an id every member must agree on without talking: a hash of the
// sorted names, so ranks may submit groups in any order.
int32_t groupIdOf(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  uint64_t h = 1469598103934665603ULL;
  for (const auto& n : names) {
    for (unsigned char c : n) h = (h ^ c) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
  }
  return static_cast<int32_t>(h & 0x7fffffff);
}

// Under kolorun (its TCP store and job id in the environment, and this communicator is the
// process's own rank, not a thread-rank of a test): follow kolorun's verdicts and beat this
// rank's heartbeat. Elastic jobs survive failures and handle them themselves.
Expected<std::unique_ptr<JobAbortWatcher>> watchLauncherFromEnv(int rank, int size,
                                                                std::shared_ptr<AbortToken> abort) {
  auto jobId = settingText(protocol::kEnvJobId);
  auto url = settingText(protocol::kEnvStore);
  auto envRank = settingText(protocol::kEnvRank);
  if (size <= 1 || !jobId || !url || !url->starts_with(protocol::kStoreSchemeTcp) || !envRank ||
      *envRank != std::to_string(rank) || settingBool(protocol::kEnvElastic)) {
    return std::unique_ptr<JobAbortWatcher>();
  }
  JobAbortWatcherOptions watch;
  watch.storeUrl = *url;
  watch.jobId = *jobId;
  watch.rank = rank;
  watch.heartbeatSeconds = settingSeconds("KOLO_HEARTBEAT_SECONDS");
  watch.abort = std::move(abort);
  return JobAbortWatcher::start(std::move(watch));
}

}  // namespace

struct EngineShared {
  std::shared_ptr<std::mutex> transportMutex = std::make_shared<std::mutex>();
  std::shared_ptr<Timeline> timeline;
  std::shared_ptr<FlightRecorder> recorder;
  std::unique_ptr<MetricsPublisher> metrics;  // null unless KOLO_METRICS_PORT or _FILE is set
  std::atomic<LiveStatus*> live{nullptr};       // the Engine's liveStatus_ while it runs
};

Engine::Engine(std::shared_ptr<Communicator> world, EngineConfig config)
    : config_(std::move(config)), world_(std::move(world)) {}

Engine::~Engine() {
  (void)shutdown();
}

Expected<std::unique_ptr<Engine>> Engine::create(std::shared_ptr<Communicator> world,
                                                 EngineConfig config) {
  if (!world) return Status(Code::kInvalidArgument, "Engine::create needs a communicator");
  std::unique_ptr<Engine> engine(new Engine(std::move(world), std::move(config)));
  engine->shared_ = std::make_shared<EngineShared>();
  const int rank = engine->rank();
  engine->shared_->recorder = FlightRecorder::fromEnv(rank);
  KOLO_ASSIGN_OR_RETURN(engine->abortWatcher_, watchLauncherFromEnv(rank, engine->size(), engine->world_->options().abort));
  if (rank == 0) {
    // Rank 0 always holds a (closed) Timeline so that startTimeline() can open one later
    // without reaching into running coordinators. KOLO_TIMELINE marks cycles, as it always has.
    engine->shared_->timeline = std::make_shared<Timeline>();
    if (!engine->config_.timelinePath.empty()) {
      KOLO_RETURN_IF_ERROR(engine->shared_->timeline->start(engine->config_.timelinePath, true));
    }
  }
  const HostLayout* layout = engine->world_->hostLayout();
  engine->shared_->metrics = MetricsPublisher::start(engine->config_.metrics, engine->world_,
                                                     layout ? layout->localRank : rank);
  if (rank == 0) warnAboutUnknownSettings();
  if (rank == 0 && engine->config_.printConfig) {
    std::fprintf(stderr, "KOLO configuration (world of %d):\n%s", engine->size(),
                 engine->config_.describe().c_str());
  }
  std::vector<int32_t> everyone(static_cast<size_t>(engine->size()));
  for (int32_t r = 0; r < engine->size(); ++r) everyone[static_cast<size_t>(r)] = r;
  engine->sets_.push_back(engine->makeSet(kWorldProcessSet, std::move(everyone)));
  return engine;
}

std::shared_ptr<ProcessSetRuntime> Engine::makeSet(int32_t id, std::vector<int32_t> members) {
  auto worldTransport = std::shared_ptr<Transport>(world_, &world_->transport());
  auto view = std::make_shared<TransportView>(worldTransport, shared_->transportMutex, members,
                                              world_->rank(), static_cast<uint64_t>(id));
  // The world set keeps the shared-memory arena; subsets use channels only.
  std::shared_ptr<ShmArena> arena;
  if (id == kWorldProcessSet && world_->arena()) {
    arena = std::shared_ptr<ShmArena>(world_, world_->arena());
  }
  auto comm = std::make_shared<Communicator>(view, arena, world_->options());
  // The world set may run the hierarchical algorithms on the world's node and cross groups;
  // nothing else uses them once the engine runs.
  if (id == kWorldProcessSet) comm->shareSubgroupsOf(*world_);
  auto set = std::make_shared<ProcessSetRuntime>(id, std::move(members), world_->rank(),
                                                 std::move(comm), config_, shared_->timeline);
  set->setFlightRecorder(shared_->recorder);
  set->setStallListener([shared = shared_] {
    if (LiveStatus* live = shared->live.load()) live->onStall();
  });
  if (shared_->metrics) {
    set->setMetrics(shared_->metrics->addSet(id, set->members()));
  }
  set->start();
  return set;
}

int Engine::rank() const {
  return world_->rank();
}
int Engine::size() const {
  return world_->size();
}

std::shared_ptr<ProcessSetRuntime> Engine::findSet(int32_t id) const {
  std::lock_guard lock(setsMutex_);
  if (id < 0 || static_cast<size_t>(id) >= sets_.size()) return nullptr;
  return sets_[static_cast<size_t>(id)];
}

Expected<Handle> Engine::submit(std::vector<Request> requests, std::vector<Tensor> tensors,
                                int32_t processSetId) {
  {
    std::lock_guard lock(setsMutex_);
    if (shutDown_) {
      return makeStatus(Code::kInvalidUsage, "'{}': the session has shut down",
                        requests.front().tensorName);
    }
  }
  auto set = findSet(processSetId);
  if (!set && processSetMembers(processSetId).hasValue()) {
    return makeStatus(Code::kInvalidArgument, "'{}': rank {} is not a member of process set {}",
                      requests.front().tensorName, rank(), processSetId);
  }
  if (!set) {
    return makeStatus(Code::kInvalidArgument, "'{}': process set {} does not exist",
                      requests.empty() ? "" : requests.front().tensorName, processSetId);
  }
  const auto& members = set->members();
  if (std::find(members.begin(), members.end(), rank()) == members.end()) {
    return makeStatus(Code::kInvalidArgument, "'{}': rank {} is not a member of process set {}",
                      requests.front().tensorName, rank(), processSetId);
  }
  auto state = std::make_shared<OpState>(static_cast<int>(requests.size()));
  std::vector<PendingOpPtr> ops;
  for (size_t i = 0; i < requests.size(); ++i) {
    KOLO_RETURN_IF_ERROR(validateSubmission(requests[i], tensors[i], members));
    auto op = std::make_shared<PendingOp>();
    op->request = std::move(requests[i]);
    op->request.rank = rank();
    op->request.processSetId = processSetId;
    op->tensor = tensors[i];
    op->state = state;
    op->part = i;
    ops.push_back(std::move(op));
  }
  std::string name = ops.front()->request.tensorName;
  if (ops.size() > 1) name = fmt::format("group of {} starting with '{}'", ops.size(), name);
  KOLO_RETURN_IF_ERROR(set->submit(ops));
  return Handle(std::move(state), std::move(name));
}

namespace {

Request requestFor(const std::string& name, OpType op, const Tensor& t, const OpOptions& o) {
  Request q;
  q.tensorName = name;
  q.op = op;
  q.dtype = t.dtype;
  q.shape = t.shape;
  q.device = t.device;
  if (op == OpType::kAllreduce || op == OpType::kReducescatter) {
    q.reduceOp = o.reduceOp;
    q.prescale = o.prescale;
    q.postscale = o.postscale;
  }
  if (op == OpType::kBroadcast) q.rootRank = o.rootRank;
  if (op == OpType::kAlltoall) q.splits = o.splits;
  return q;
}

}  // namespace

Expected<Handle> Engine::allreduce(const std::string& name, const Tensor& tensor,
                                   const OpOptions& options) {
  return submit({requestFor(name, OpType::kAllreduce, tensor, options)}, {tensor},
                options.processSet);
}

Expected<Handle> Engine::submitGroup(OpType op, const std::vector<std::string>& names,
                                     const std::vector<Tensor>& tensors,
                                     const OpOptions& options) {
  if (names.empty() || names.size() != tensors.size()) {
    return makeStatus(Code::kInvalidArgument,
                      "grouped {} needs one name per tensor and at least one (got {} "
                      "names, {} tensors)",
                      opTypeName(op), names.size(), tensors.size());
  }
  const int32_t group = groupIdOf(names);
  std::vector<Request> requests;
  for (size_t i = 0; i < names.size(); ++i) {
    // The device executor runs gathered rows one tensor per call; a group of device tensors
    // would need its own packing there.
    if (op != OpType::kAllreduce && tensors[i].device != kCpuDevice) {
      return makeStatus(Code::kUnavailable,
                        "grouped {}: tensor '{}' is on {}; grouped {} takes host tensors only "
                        "(submit device tensors one by one)",
                        opTypeName(op), names[i], deviceName(tensors[i].device), opTypeName(op));
    }
    Request q = requestFor(names[i], op, tensors[i], options);
    q.groupId = group;
    q.groupSize = static_cast<int32_t>(names.size());
    requests.push_back(std::move(q));
  }
  return submit(std::move(requests), tensors, options.processSet);
}

Expected<Handle> Engine::groupedAllreduce(const std::vector<std::string>& names,
                                          const std::vector<Tensor>& tensors,
                                          const OpOptions& options) {
  return submitGroup(OpType::kAllreduce, names, tensors, options);
}

Expected<Handle> Engine::groupedAllgather(const std::vector<std::string>& names,
                                          const std::vector<Tensor>& tensors,
                                          const OpOptions& options) {
  return submitGroup(OpType::kAllgather, names, tensors, options);
}

Expected<Handle> Engine::groupedReducescatter(const std::vector<std::string>& names,
                                              const std::vector<Tensor>& tensors,
                                              const OpOptions& options) {
  return submitGroup(OpType::kReducescatter, names, tensors, options);
}

Expected<Handle> Engine::allgather(const std::string& name, const Tensor& tensor,
                                   const OpOptions& options) {
  return submit({requestFor(name, OpType::kAllgather, tensor, options)}, {tensor},
                options.processSet);
}

Expected<Handle> Engine::broadcast(const std::string& name, const Tensor& tensor,
                                   const OpOptions& options) {
  return submit({requestFor(name, OpType::kBroadcast, tensor, options)}, {tensor},
                options.processSet);
}

Expected<Handle> Engine::alltoall(const std::string& name, const Tensor& tensor,
                                  const OpOptions& options) {
  return submit({requestFor(name, OpType::kAlltoall, tensor, options)}, {tensor},
                options.processSet);
}

Expected<Handle> Engine::reducescatter(const std::string& name, const Tensor& tensor,
                                       const OpOptions& options) {
  return submit({requestFor(name, OpType::kReducescatter, tensor, options)}, {tensor},
                options.processSet);
}

Expected<Handle> Engine::barrier(const std::string& name, const OpOptions& options) {
  Tensor none;
  none.dtype = DataType::kUInt8;
  return submit({requestFor(name, OpType::kBarrier, none, options)}, {none}, options.processSet);
}

Expected<Handle> Engine::join(const OpOptions& options) {
  Tensor none;
  none.dtype = DataType::kUInt8;
  return submit({requestFor(kJoinName, OpType::kJoin, none, options)}, {none}, options.processSet);
}

Expected<int32_t> Engine::addProcessSet(std::vector<int32_t> members) {
  std::sort(members.begin(), members.end());
  if (members.empty() || members.front() < 0 || members.back() >= size() ||
      std::adjacent_find(members.begin(), members.end()) != members.end()) {
    return makeStatus(Code::kInvalidArgument,
                      "process set ranks must be distinct world ranks in [0, {}), got {}", size(),
                      fmt::join(members, ","));
  }
  // Adds are serialized so that ids follow the (collective) call order on every rank.
  std::lock_guard addLock(addMutex_);
  int32_t id = 0;
  {
    std::lock_guard lock(setsMutex_);
    if (shutDown_) return Status(Code::kInvalidUsage, "addProcessSet after shutdown");
    if (sets_.size() > static_cast<size_t>(kMaxProcessSets)) {
      return makeStatus(Code::kUnavailable, "at most {} process sets per session", kMaxProcessSets);
    }
    id = static_cast<int32_t>(sets_.size());
  }
  // Every rank must ask for the same set: rank 0's list is broadcast through the world
  // coordinator (a different length already fails negotiation) and compared here.
  std::vector<int64_t> agreed(members.begin(), members.end());
  const std::vector<int64_t> mine = agreed;
  Tensor list;
  list.data = agreed.data();
  list.output = agreed.data();
  list.dtype = DataType::kInt64;
  list.shape = {static_cast<int64_t>(agreed.size())};
  OpOptions fromZero;
  fromZero.rootRank = 0;
  KOLO_ASSIGN_OR_RETURN(Handle h,
                        broadcast(fmt::format("kolo.add_process_set.{}", id), list, fromZero));
  KOLO_RETURN_IF_ERROR(h.wait(world_->opDeadline()));
  // Then every rank learns whether any rank disagreed, so all fail together or none does.
  int32_t disagree = agreed != mine ? 1 : 0;
  Tensor flag;
  flag.data = &disagree;
  flag.output = &disagree;
  flag.dtype = DataType::kInt32;
  flag.shape = {1};
  OpOptions maxOf;
  maxOf.reduceOp = ReduceOp::kMax;
  KOLO_ASSIGN_OR_RETURN(Handle agree,
                        allreduce(fmt::format("kolo.add_process_set.{}.agree", id), flag, maxOf));
  KOLO_RETURN_IF_ERROR(agree.wait(world_->opDeadline()));
  if (agreed != mine) {
    return makeStatus(Code::kMismatch,
                      "addProcessSet {}: rank {} asked for ranks [{}] but rank 0 for [{}]", id,
                      rank(), fmt::join(mine, ","), fmt::join(agreed, ","));
  }
  if (disagree != 0) {
    return makeStatus(Code::kMismatch,
                      "addProcessSet {}: another rank asked for a different set than rank 0's "
                      "[{}]",
                      id, fmt::join(agreed, ","));
  }
  std::lock_guard lock(setsMutex_);
  if (shutDown_) return Status(Code::kInvalidUsage, "addProcessSet after shutdown");
  // Every world rank records the id (ids stay in step); only members run a coordinator.
  const bool member = std::find(members.begin(), members.end(), rank()) != members.end();
  sets_.push_back(member ? makeSet(id, members) : nullptr);
  if (!member) memberless_[id] = std::move(members);
  return id;
}

Status Engine::removeProcessSet(int32_t id) {
  std::shared_ptr<ProcessSetRuntime> set;
  {
    std::lock_guard lock(setsMutex_);
    if (id == kWorldProcessSet || id < 0 || static_cast<size_t>(id) >= sets_.size()) {
      return makeStatus(Code::kInvalidArgument, "cannot remove process set {}", id);
    }
    set = std::exchange(sets_[static_cast<size_t>(id)], nullptr);
    memberless_.erase(id);
  }
  if (!set) return Status::ok();
  set->requestShutdown();
  return set->waitStopped(Deadline::afterSeconds(config_.shutdownTimeoutSeconds));
}

Expected<std::vector<int32_t>> Engine::processSetMembers(int32_t id) const {
  std::lock_guard lock(setsMutex_);
  if (auto it = memberless_.find(id); it != memberless_.end()) return it->second;
  if (id < 0 || static_cast<size_t>(id) >= sets_.size() || !sets_[static_cast<size_t>(id)]) {
    return makeStatus(Code::kInvalidArgument, "process set {} does not exist", id);
  }
  return sets_[static_cast<size_t>(id)]->members();
}

Status Engine::startTimeline(const std::string& path, bool markCycles) {
  if (path.empty()) return Status(Code::kInvalidArgument, "the timeline path is empty");
  {
    std::lock_guard lock(setsMutex_);
    if (shutDown_) return Status(Code::kInvalidUsage, "startTimeline: the session has shut down");
  }
  if (!shared_->timeline) return Status::ok();  // only rank 0 writes the timeline
  return shared_->timeline->start(path, markCycles);
}

Status Engine::stopTimeline() {
  if (shared_->timeline) shared_->timeline->stop();
  return Status::ok();
}

Status Engine::shutdown() {
  std::vector<std::shared_ptr<ProcessSetRuntime>> sets;
  {
    std::lock_guard lock(setsMutex_);
    if (shutDown_) return Status::ok();
    shutDown_ = true;
    sets = sets_;
  }
  for (auto& set : sets) {
    if (set) set->requestShutdown();
  }
  const Deadline deadline = Deadline::afterSeconds(config_.shutdownTimeoutSeconds);
  Status first;
  for (auto& set : sets) {
    if (!set) continue;
    Status s = set->waitStopped(deadline);
    if (first.isOk() && !s.isOk()) first = s;
  }
  {
    std::lock_guard lock(setsMutex_);
    sets_.clear();
  }
  if (shared_->timeline) shared_->timeline->stop();  // the file is complete JSON from here on
  if (shared_->metrics) shared_->metrics->stop();
  if (abortWatcher_) abortWatcher_->stop();
  shared_->live.store(nullptr);
  if (liveStatus_) liveStatus_->stop();
  // Threads of the session may outlive it (the status thread until its next wakeup); its
  // recorder stops answering SIGUSR1 now, so a next session's dump is the process's only one.
  if (shared_->recorder) shared_->recorder->retire();
  return first;
}

void Engine::startLiveStatus(const std::string& jobId, bool underLauncher) {
  LiveStatusOptions options;
  options.store = store_;
  options.jobId = jobId;
  options.rank = rank();
  options.size = size();
  options.recorder = shared_->recorder;
  options.askOnStall = !underLauncher;
  options.warningSeconds = config_.stallWarningSeconds;
  options.flightDir = settingTextOrDefault("KOLO_FLIGHT_RECORDER_DIR");
  liveStatus_ = LiveStatus::start(std::move(options));
  shared_->live.store(liveStatus_.get());
}

Expected<int64_t> Engine::latestGeneration() const {
  if (joinedGeneration_ < 0 || !store_) return int64_t{-1};
  KOLO_ASSIGN_OR_RETURN(std::string text, store_->get(protocol::elasticGenerationKey(elasticJob_),
                                                      Deadline::afterSeconds(5)));
  try {
    return static_cast<int64_t>(std::stoll(text));
  } catch (const std::exception&) {
    return Status(Code::kInternal, "elastic generation key holds '" + text + "'");
  }
}

}  // namespace kolo::core
