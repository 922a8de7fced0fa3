// The Engine's bootstraps: how fromEnv finds its world under each launcher (kolorun's store,
// mpirun, srun --mpi=pmix or other PMIx launchers, srun without PMIx, torchrun, or none: a
// world of one).
#include <fmt/format.h>

#include "kolo/base/env.h"
#include "kolo/base/fault_injection.h"
#include "kolo/base/settings.h"
#include "kolo/base/slurm_step.h"
#include "kolo/collectives/world.h"
#include "kolo/core/elastic_round.h"
#include "kolo/core/engine.h"
#include "kolo/protocol/elastic.h"
#include "kolo/protocol/env_contract.h"
#include "kolo/rendezvous/memory_store.h"
#include "kolo/rendezvous/pmix_rendezvous.h"
#include "kolo/rendezvous/scheduler_store.h"
#include "kolo/rendezvous/slurm_rendezvous.h"
#include "kolo/rendezvous/store_factory.h"
#include "kolo/rendezvous/torch_rendezvous.h"
#include "world_store.h"

namespace kolo::core {
namespace {

// A world of one inside a Slurm step of several tasks means every task would train alone: refuse
// it, naming the likely cause.
Status checkNotAloneInSlurmStep(int worldSize) {
  const int tasks = slurmStepTaskCount();
  if (worldSize != 1 || tasks <= 1) return Status::ok();
  return makeStatus(
      Code::kInvalidUsage,
      "Slurm started this step with {} tasks (SLURM_STEP_NUM_TASKS) but this process joined a "
      "world of 1 rank, so every task would train alone. The usual cause: the program bootstraps "
      "through MPI/PMIx (KOLO_CPU_OPERATIONS=mpi, or an MPI-initialized framework) and srun ran "
      "without `--mpi=pmix`, so MPI came up as a singleton; or KOLO_SIZE=1 / "
      "OMPI_COMM_WORLD_SIZE=1 is exported. Start with `srun --mpi=pmix ...`, or let Kolo "
      "bootstrap from Slurm's variables (`srun --mpi=none`, KOLO_CPU_OPERATIONS unset)",
      tasks);
}

}  // namespace

Expected<std::unique_ptr<Engine>> Engine::fromEnv(EngineConfig config) {
  KOLO_ASSIGN_OR_RETURN(auto engine, connectFromEnv(std::move(config)));
  KOLO_RETURN_IF_ERROR(checkNotAloneInSlurmStep(engine->size()));
  return engine;
}

Expected<std::unique_ptr<Engine>> Engine::fromSlurmStep(WorldSpec spec, EngineConfig config) {
  KOLO_ASSIGN_OR_RETURN(std::optional<SlurmStep> step, slurmStepFromEnv());
  KOLO_ASSIGN_OR_RETURN(SlurmStepStore slurm,
                        openSlurmStepStore(*step, spec.secret, spec.connectTimeoutSeconds));
  KOLO_ASSIGN_OR_RETURN(auto engine,
                        overOwnStore(std::move(slurm.store), std::move(slurm.jobId),
                                     std::move(slurm.secret), std::move(spec), std::move(config)));
  engine->placement_ =
      HostPosition{step->localRank, step->localSize, step->crossRank, step->crossSize};
  return engine;
}

Expected<std::unique_ptr<Engine>> Engine::fromPmix(WorldSpec spec, EngineConfig config) {
  KOLO_ASSIGN_OR_RETURN(PmixJobStore pmix, openPmixStore(spec.secret, spec.connectTimeoutSeconds));
  spec.rank = pmix.rank;
  spec.size = pmix.size;
  if (!settingText(protocol::kEnvHostname)) spec.hostKey = pmix.hostName;
  KOLO_ASSIGN_OR_RETURN(auto engine,
                        overOwnStore(std::move(pmix.store), std::move(pmix.jobId),
                                     std::move(pmix.secret), std::move(spec), std::move(config)));
  // PMIx launchers differ in the layout keys they give (Slurm's has no PMIX_LOCAL_RANK); the
  // world's own layout, from every rank's node name, is the one answer for all of them.
  const HostLayout* layout = engine->world_->hostLayout();
  engine->placement_ = layout ? HostPosition{layout->localRank, layout->localSize,
                                             layout->crossRank, layout->crossSize}
                              : HostPosition{engine->rank(), engine->size(), 0, 1};
  return engine;
}

Expected<std::unique_ptr<Engine>> Engine::fromTorchEnv(WorldSpec spec, EngineConfig config) {
  KOLO_ASSIGN_OR_RETURN(std::optional<TorchLaunch> launch, torchLaunchFromEnv());
  if (!launch) {
    return Status(Code::kInvalidUsage,
                  "MASTER_ADDR and MASTER_PORT are set but RANK or WORLD_SIZE is not: start the "
                  "program with torchrun, or set all four");
  }
  KOLO_ASSIGN_OR_RETURN(TorchStore torch,
                        openTorchStore(*launch, spec.secret, spec.connectTimeoutSeconds));
  return overOwnStore(std::move(torch.store), std::move(torch.jobId), std::move(torch.secret),
                      std::move(spec), std::move(config));
}

Expected<std::unique_ptr<Engine>> Engine::overOwnStore(std::unique_ptr<KvStore> store,
                                                       std::string jobId, std::string secret,
                                                       WorldSpec spec, EngineConfig config) {
  spec.jobId = std::move(jobId);
  spec.secret = std::move(secret);
  KOLO_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm, connectWorld(*store, spec));
  KOLO_ASSIGN_OR_RETURN(auto engine, create(std::move(comm), std::move(config)));
  engine->store_ = std::move(store);
  engine->startLiveStatus(spec.jobId, false);
  return engine;
}

namespace {

// kolorun, mpirun, a PMIx launcher, srun or torchrun set a world size; a program started alone
// is a world of one.
bool startedByALauncher() {
  return settingText(protocol::kEnvSize) ||
         getEnv("OMPI_COMM_WORLD_SIZE", {"PMI_SIZE", "SLURM_NTASKS", "WORLD_SIZE"}) ||
         launchedByPmix();
}

}  // namespace

namespace {

// An elastic rank joins the membership generation kolorun published, which gives it its rank,
// size and session job id (`spec` takes them).
Expected<ElasticMembership> joinGeneration(KvStore& store, WorldSpec& spec) {
  KOLO_ASSIGN_OR_RETURN(ElasticMembership membership,
                        joinElasticRound(store, spec.jobId, spec.rank, spec.hostKey,
                                         Deadline::afterSeconds(spec.connectTimeoutSeconds)));
  spec.rank = membership.rank;
  spec.size = membership.size;
  spec.jobId = membership.jobId;
  return membership;
}

}  // namespace

Expected<std::unique_ptr<Engine>> Engine::connectFromEnv(EngineConfig config) {
  KOLO_RETURN_IF_ERROR(faultPlanStatus());
  const bool launched = startedByALauncher();
  WorldSpec spec;  // a program started without a launcher is a world of one
  std::unique_ptr<KvStore> store;
  if (launched) {
    KOLO_ASSIGN_OR_RETURN(spec, worldSpecFromEnv());
  }
  // An elastic job may shrink to one rank and still needs its store for the next generation.
  const bool elastic = launched && settingBool(protocol::kEnvElastic);
  if (launched && (spec.size > 1 || elastic)) {
    auto url = settingText(protocol::kEnvStore);
    // Started by a PMIx launcher other than mpirun (srun --mpi=pmix): PMIx carries rank 0's
    // store address and a fresh secret. Under mpirun, MPI is the rendezvous (next).
    if (!url && !elastic && pmixBootstrapApplies()) {
      return fromPmix(std::move(spec), std::move(config));
    }
    if (!url && launchedByMpi() && builtWithMpi()) {
      // Under mpirun MPI itself is the rendezvous; it also picks a fresh job id per session.
      KOLO_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm, connectWorldFromMpi(spec));
      // MPI gives no store after connect: rank 0 hosts one for the live verdict.
      KOLO_ASSIGN_OR_RETURN(std::unique_ptr<KvStore> jobStore, openStoreOverWorld(*comm));
      KOLO_ASSIGN_OR_RETURN(auto engine, create(std::move(comm), std::move(config)));
      engine->store_ = std::move(jobStore);
      engine->startLiveStatus("mpirun", false);  // the store is this session's alone
      return engine;
    }
    // Started directly by srun: rank 0 hosts the step's store (kolo/rendezvous/slurm_rendezvous.h).
    if (!url && !elastic && getEnv("SLURM_STEP_ID") && getEnv("SLURM_PROCID")) {
      return fromSlurmStep(std::move(spec), std::move(config));
    }
    // Started by torchrun or a PyTorchJob: rank 0 hosts the store beside MASTER_ADDR:MASTER_PORT.
    if (!url && !elastic && getEnv("MASTER_ADDR") && getEnv("MASTER_PORT")) {
      return fromTorchEnv(std::move(spec), std::move(config));
    }
    if (!url) {
      return Status(Code::kInvalidUsage,
                    "KOLO_STORE is not set: start the program with kolorun (which provides the "
                    "rendezvous store) or mpirun");
    }
    KOLO_ASSIGN_OR_RETURN(store, openStore(*url));
    if (elastic) {
      // Rank, size and job id come from the membership generation kolorun published.
      const std::string launcherJob = spec.jobId;
      KOLO_ASSIGN_OR_RETURN(ElasticMembership membership, joinGeneration(*store, spec));
      KOLO_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm, connectWorld(*store, spec));
      KOLO_ASSIGN_OR_RETURN(auto engine, create(std::move(comm), std::move(config)));
      engine->store_ = std::move(store);
      engine->placement_ = HostPosition{membership.localRank, membership.localSize,
                                        membership.crossRank, membership.crossSize};
      engine->joinedGeneration_ = membership.generation;
      engine->elasticJob_ = launcherJob;
      // Each generation answers live-verdict requests as its own rank of its own size, under
      // kolorun's job id (where kolorun asks); a reset's new session starts a new one.
      const auto kolorunJob = settingText(protocol::kEnvJobId);
      engine->startLiveStatus(kolorunJob.value_or(launcherJob), kolorunJob.has_value());
      return engine;
    }
    // A process may shut down and init again within one job. Each rank counts its own inits
    // in the store, so the n-th session of every rank gets the same fresh key and segment
    // namespace without any process-wide counter.
    KOLO_ASSIGN_OR_RETURN(int64_t generation,
                          store->add(fmt::format("{}/sessions/{}", spec.jobId, spec.rank), 1));
    spec.jobId = fmt::format("{}.{}", spec.jobId, generation);
  } else {
    store = std::make_unique<MemoryStore>();
  }
  const bool shared = launched && spec.size > 1;
  KOLO_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm, connectWorld(*store, spec));
  KOLO_ASSIGN_OR_RETURN(auto engine, create(std::move(comm), std::move(config)));
  engine->store_ = std::move(store);
  // KOLO_STORE: kolorun's store (it asks for verdicts and prints them), or one given by hand.
  const auto launcherJob = settingText(protocol::kEnvJobId);
  // Under kolorun the keys live under its job id, where kolorun asks ranks on other hosts.
  if (shared) engine->startLiveStatus(launcherJob.value_or(spec.jobId), launcherJob.has_value());
  return engine;
}

}  // namespace kolo::core
