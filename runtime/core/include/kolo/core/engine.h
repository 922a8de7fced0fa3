// Engine: one Kolo session. It owns the world Communicator, one coordinator thread per process
// set and the in-flight ops of each. Callers submit named tensors from any thread; submit
// validates at once and returns a Handle that the coordinator completes once every rank of
// the process set has submitted the name, the ranks agreed on it, and the collective ran.
// An Engine owns its state: several Engines (e.g. ranks as threads in tests) coexist. What is
// per process and why is listed in docs/ARCHITECTURE.md ("Process-wide state").
// Thread: submit/shutdown on any caller thread; collectives run on the coordinator threads.
#pragma once
#include <optional>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kolo/base/kv_store.h"
#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "kolo/core/engine_config.h"
#include "kolo/core/handle.h"
#include "kolo/core/request.h"
#include "kolo/core/tensor.h"

namespace kolo {
struct WorldSpec;
}  // namespace kolo

namespace kolo::core {

// Where this rank sits among hosts (Horovod's local and cross ranks), as an elastic join
// renumbered it. Not a hardware placement (that is collectives' RankPlacement) nor a launch
// slot (the launcher's LaunchPlacement).
struct HostPosition {
  int localRank = 0;
  int localSize = 1;
  int crossRank = 0;
  int crossSize = 1;
};

class ProcessSetRuntime;
class JobAbortWatcher;
class LiveStatus;
struct EngineShared;

class Engine {
 public:
  // Connects the world from the KOLO_* (or OMPI_*/Slurm) environment and the store it names.
  static Expected<std::unique_ptr<Engine>> fromEnv(EngineConfig config = EngineConfig::fromEnv());
  // Uses an existing communicator (tests: ranks as threads over loopback).
  static Expected<std::unique_ptr<Engine>> create(std::shared_ptr<Communicator> world,
                                                  EngineConfig config);
  ~Engine();  // shuts down (with the configured timeout) if the caller did not
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  int rank() const;
  int size() const;
  // This job's failure verdict (its world communicator's): raised by the launcher's watcher,
  // it fails every pending and later op of every process set with the same status.
  AbortToken& abortToken() const { return world_->abortToken(); }
  // Local and cross placement when the engine computed it (an elastic job renumbers ranks per
  // membership generation); empty when the launcher's environment says it.
  const std::optional<HostPosition>& placement() const { return placement_; }
  // Elastic jobs: the membership generation this engine joined, and the newest kolorun has
  // published (a later one means ranks left or joined). -1 for both outside an elastic job.
  int64_t joinedGeneration() const { return joinedGeneration_; }
  Expected<int64_t> latestGeneration() const;
  const EngineConfig& config() const { return config_; }

  Expected<Handle> allreduce(const std::string& name, const Tensor& tensor,
                             const OpOptions& options = {});
  // The tensors are negotiated as one unit and complete together; names must be distinct.
  Expected<Handle> groupedAllreduce(const std::vector<std::string>& names,
                                    const std::vector<Tensor>& tensors,
                                    const OpOptions& options = {});
  // Grouped allgather and reducescatter: negotiated as one unit, fused where they fit the
  // fusion buffer, complete together; tensor i's output is Handle::result(i). One dtype per
  // group; host tensors only.
  Expected<Handle> groupedAllgather(const std::vector<std::string>& names,
                                    const std::vector<Tensor>& tensors,
                                    const OpOptions& options = {});
  Expected<Handle> groupedReducescatter(const std::vector<std::string>& names,
                                        const std::vector<Tensor>& tensors,
                                        const OpOptions& options = {});
  // shape[0] may differ per rank; the result (rows of every member, in set order) is in
  // Handle::result().
  Expected<Handle> allgather(const std::string& name, const Tensor& tensor,
                             const OpOptions& options = {});
  Expected<Handle> broadcast(const std::string& name, const Tensor& tensor,
                             const OpOptions& options);
  Expected<Handle> alltoall(const std::string& name, const Tensor& tensor,
                            const OpOptions& options = {});
  // Reduces and splits shape[0] across the members (the first shape[0] % n get one row more).
  Expected<Handle> reducescatter(const std::string& name, const Tensor& tensor,
                                 const OpOptions& options = {});
  Expected<Handle> barrier(const std::string& name, const OpOptions& options = {});
  // Until every member has joined, this rank contributes zeros to the others' allreduces.
  Expected<Handle> join(const OpOptions& options = {});

  // Point-to-point (not collective: only this rank and the peer take part). `peer` and the
  // ranks in messages are ranks of options.processSet; tags are 0 .. 2^31-1. Messages of one
  // (peer, tag) match in posting order; a receive whose dtype or element count differs from
  // the send fails both with kMismatch naming both sides. send reads tensor.data; recv writes
  // tensor.output (or data when output is null). CPU tensors only; over the mpi transport
  // (KOLO_CPU_OPERATIONS=mpi) both are refused with kUnavailable.
  Expected<Handle> send(const Tensor& tensor, int32_t peer, int32_t tag,
                        const OpOptions& options = {});
  Expected<Handle> recv(const Tensor& tensor, int32_t peer, int32_t tag,
                        const OpOptions& options = {});

  // Collective over the world: every rank calls it with the same members, in the same order
  // relative to other addProcessSet calls. Returns the new set's id.
  Expected<int32_t> addProcessSet(std::vector<int32_t> members);
  Status removeProcessSet(int32_t id);
  // Global ranks of a set, ascending; kInvalidArgument for an unknown id.
  Expected<std::vector<int32_t>> processSetMembers(int32_t id) const;

  // Starts writing a Chrome-trace timeline to `path` (rank 0 writes it; elsewhere a no-op).
  // Again with the same path: no-op; another path while one is open: kInvalidUsage.
  Status startTimeline(const std::string& path, bool markCycles);
  // Closes the timeline file as complete JSON; a no-op when none is open.
  Status stopTimeline();

  // Waits (up to the config's shutdown timeout) until every rank has asked to shut down, then
  // stops the coordinators; ops that never completed fail with kAborted. Idempotent.
  Status shutdown();

 private:
  // fromEnv's connection (fromEnv adds the check that a Slurm step did not start lone ranks).
  static Expected<std::unique_ptr<Engine>> connectFromEnv(EngineConfig config);
  // Under srun without kolorun: the step's own rendezvous (kolo/rendezvous/slurm_rendezvous.h).
  static Expected<std::unique_ptr<Engine>> fromSlurmStep(WorldSpec spec, EngineConfig config);
  // Started by a PMIx launcher (srun --mpi=pmix): kolo/rendezvous/pmix_rendezvous.h.
  static Expected<std::unique_ptr<Engine>> fromPmix(WorldSpec spec, EngineConfig config);
  // Under torchrun or a PyTorchJob: rank 0 hosts the store (kolo/rendezvous/torch_rendezvous.h).
  static Expected<std::unique_ptr<Engine>> fromTorchEnv(WorldSpec spec, EngineConfig config);
  // Connects the world through a store the bootstrap opened (rank 0 hosts it), which the
  // engine then keeps alive.
  static Expected<std::unique_ptr<Engine>> overOwnStore(std::unique_ptr<KvStore> store,
                                                        std::string jobId, std::string secret,
                                                        WorldSpec spec, EngineConfig config);
  Engine(std::shared_ptr<Communicator> world, EngineConfig config);
  Expected<Handle> submit(std::vector<Request> requests, std::vector<Tensor> tensors,
                          int32_t processSetId);
  // A grouped op of `op`: one request per tensor, with the group's id and size.
  Expected<Handle> submitGroup(OpType op, const std::vector<std::string>& names,
                               const std::vector<Tensor>& tensors, const OpOptions& options);
  std::shared_ptr<ProcessSetRuntime> findSet(int32_t id) const;
  // The set a send or receive goes through, after checking the arguments (engine_p2p.cc).
  Expected<std::shared_ptr<ProcessSetRuntime>> peerSet(bool isSend, const Tensor& tensor,
                                                       int32_t peer, int32_t tag,
                                                       int32_t processSetId) const;
  Expected<Handle> submitPeer(bool isSend, const Tensor& tensor, int32_t peer, int32_t tag,
                              const OpOptions& options);
  std::shared_ptr<ProcessSetRuntime> makeSet(int32_t id, std::vector<int32_t> members);
  // Once the store is kept: answer live-verdict requests under `jobId`, and ask for one on a
  // stall unless `underLauncher` (kolorun asks and prints it itself).
  void startLiveStatus(const std::string& jobId, bool underLauncher);

  EngineConfig config_;
  std::shared_ptr<Communicator> world_;
  std::mutex addMutex_;  // serializes addProcessSet
  mutable std::mutex setsMutex_;
  std::vector<std::shared_ptr<ProcessSetRuntime>> sets_;  // index: id; null once removed
  std::map<int32_t, std::vector<int32_t>> memberless_;    // sets this rank is not in
  std::shared_ptr<EngineShared> shared_;  // transport lock and timeline, shared by the sets
  bool shutDown_ = false;                 // guarded by setsMutex_
  // Kept alive for transports that use it after connect; shared with the live verdict's threads.
  std::shared_ptr<KvStore> store_;
  std::unique_ptr<LiveStatus> liveStatus_;  // the live verdict through the store (live_status.h)
  std::unique_ptr<JobAbortWatcher> abortWatcher_;  // under kolorun: its verdicts, our heartbeat
  std::optional<HostPosition> placement_;  // set by an elastic join
  int64_t joinedGeneration_ = -1;
  std::string elasticJob_;  // the launcher's job id, where the generation keys live
};

}  // namespace kolo::core
