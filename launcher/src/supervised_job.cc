#include "kolo/launcher/supervised_job.h"

#include <fmt/format.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <utility>

#include "kolo/base/settings.h"
#include "kolo/base/job_abort.h"
#include "kolo/launcher/check_build_topology.h"
#include "kolo/launcher/core_binding.h"
#include "kolo/launcher/kolorun_messages.h"

namespace kolo::launcher {
namespace {

ElasticOptions elasticOptionsFor(const LaunchOptions& options) {
  ElasticOptions elastic;
  elastic.minNp = options.minNp;
  elastic.maxNp = options.maxNp;
  elastic.resetLimit = options.resetLimit;
  elastic.discoveryScript = options.hostDiscoveryScript;
  return elastic;
}

// The limits and output settings of the command line.
SupervisorOptions supervisionFor(const LaunchOptions& options) {
  SupervisorOptions supervision;
  supervision.timeoutSeconds = options.timeoutSeconds;
  supervision.killGraceSeconds = options.killGraceSeconds;
  // A one-rank job has nobody to rendezvous with and may never open the store.
  supervision.startTimeoutSeconds = options.np > 1 ? options.startTimeoutSeconds : 0;
  supervision.outputDir = options.outputDir;
  supervision.ranksFilter = options.ranksFilter;
  supervision.prefixTimestamp = options.prefixTimestamp;
  return supervision;
}

// The supervisor's KOLO_* settings.
void supervisorSettingsFromEnv(SupervisorOptions& supervision, bool hostDiscovery) {
  supervision.abortGraceSeconds = settingSeconds("KOLO_ABORT_GRACE_SECONDS");
  supervision.heartbeatTimeoutSeconds = settingSeconds("KOLO_HEARTBEAT_TIMEOUT_SECONDS");
  if (hostDiscovery) supervision.tickSeconds = settingSeconds("KOLO_DISCOVERY_INTERVAL_SECONDS");
}

// The ranks' KOLO_FLIGHT_RECORDER_DIR: -x wins over kolorun's environment; /tmp by default.
std::string flightDirFor(const LaunchOptions& options, const Environment& base) {
  std::string dir;
  if (auto it = base.find("KOLO_FLIGHT_RECORDER_DIR"); it != base.end()) dir = it->second;
  for (const EnvSetting& setting : options.env) {
    if (setting.name == "KOLO_FLIGHT_RECORDER_DIR" && setting.value) dir = *setting.value;
  }
  return dir.empty() ? "/tmp" : dir;
}

// ssh's (or, with --launcher srun, srun's) path in kolorun's PATH (/usr/bin:/bin without one).
Expected<std::string> resolveRemoteStarter(const Environment& base, bool srun) {
  auto path = base.find("PATH");
  return resolveExecutable(srun ? "srun" : "ssh",
                           path != base.end() ? path->second : "/usr/bin:/bin");
}

}  // namespace

SupervisedJob::SupervisedJob(const LaunchOptions& options, const LaunchSite& site,
                             const JobInfo& job, const Environment& base, StoreServer& store,
                             std::string executable)
    : options_(options),
      site_(site),
      job_(job),
      base_(base),
      store_(store),
      executable_(std::move(executable)),
      elastic_(
          elasticOptionsFor(options), job.jobId,
          [store = &store](const std::string& key, std::string value) {
            store->set(key, std::move(value));
          },
          [this](std::vector<HostSlots>& found) {
            classifyDiscoveredHosts(found, site_, options_.localHosts);
          }),
      supervisor_(supervisorOptions()) {}

SupervisorOptions SupervisedJob::supervisorOptions() {
  SupervisorOptions supervision = supervisionFor(options_);
  StoreServer* store = &store_;
  supervision.joinedRanks = [store] { return store->joinedRanks(); };
  if (job_.elastic) {
    supervision.tolerateFailure = [this](int rank, int) { return elastic_.tolerateFailure(rank); };
  }
  // Fault handling (docs/RELIABILITY.md): the first failure goes to the store for the
  // survivors; heartbeats of open Kolo sessions catch frozen ranks kolorun cannot waitpid.
  supervision.publishFailure = [store, key = jobAbortKey(job_.jobId),
                                claim = jobAbortClaimKey(job_.jobId)](const PeerFailure& f) {
    store->setIfUnclaimed(key, f.encode(), claim);
  };
  supervision.heartbeats = [store, prefix = job_.jobId + "/heartbeat/"] {
    return parseHeartbeats(store->valuesWithPrefix(prefix, 0.5), prefix);
  };
  const bool hostDiscovery = job_.elastic && elastic_.hasDiscovery();
  supervisorSettingsFromEnv(supervision, hostDiscovery);
  if (hostDiscovery) supervision.onTick = [this] { onDiscoveryTick(); };
  supervision.onStatusRequest = [this] { reportStatus("asked: SIGUSR1 or kolorun --status"); };
  supervision.onRankStderr = [this](std::string_view text) {
    if (status_ && status_->stallWarned(text)) reportStatus("a collective stalled");
  };
  return supervision;
}

void SupervisedJob::reportStatus(const std::string& why) {
  if (status_) status_->report(why, supervisor_.localRanks());
}

int SupervisedJob::run() {
  if (Status status = supervisor_.open(); !status.isOk()) {
    return stopWith(status, kExitLaunchFailed);
  }
  if (Status status = supervisor_.prepareOutputFiles(options_.np); !status.isOk()) {
    return stopWith(status, kExitLaunchFailed);
  }
  if (std::optional<int> failed = prepareStarter()) return *failed;
  status_.emplace(JobStatusOptions{
      .flightDir = flightDirFor(options_, base_),
      .doctorPath = (std::filesystem::path(selfExecutablePath()).parent_path() / "kolo-doctor")
                        .string(),
      .worldSize = options_.np,
      .currentSize = job_.elastic ? std::function<int()>([this] { return elastic_.alive(); })
                                  : std::function<int()>(),
      .store = &store_,
      .jobId = job_.jobId});
  if (Status spawned = spawnLaunchRanks(); !spawned.isOk()) {
    printError(spawned.message());
    supervisor_.abortAll();
    return spawned.code() == Code::kInvalidArgument ? kExitCannotExecute : kExitLaunchFailed;
  }
  return supervisor_.run();
}

std::optional<int> SupervisedJob::prepareStarter() {
  auto binding = planCpuBinding(options_.bindTo, machineRankCount(site_.assignment),
                                probeCpuLayout(allowedCpus()));
  if (!binding) return stopWith(binding.status(), kExitUsage);
  std::string sshExecutable;
  if (site_.remote) {
    auto found = resolveRemoteStarter(base_, options_.launcher == "srun");
    if (!found) return stopWith(found.status(), kExitCannotExecute);
    sshExecutable = *found;
  }
  starter_.emplace(options_, site_.assignment, job_, base_, executable_, std::move(sshExecutable),
                   std::move(*binding));
  return std::nullopt;
}

Status SupervisedJob::spawnLaunchRanks() {
  std::map<int, std::string> hostOfRank;
  for (int rank = 0; rank < site_.assignment.worldSize(); ++rank) {
    const HostSlots& host = site_.assignment.hostOf(rank);
    KOLO_ASSIGN_OR_RETURN(RankProcess process, starter_->start(rank, host));
    supervisor_.addRank(process, host.name, !host.local);
    hostOfRank[rank] = host.name;
  }
  if (job_.elastic) elastic_.start(hostOfRank);
  return Status::ok();
}

void SupervisedJob::onDiscoveryTick() {
  auto change = elastic_.discover();
  if (!change) {
    printError("elastic: " + change.status().message());
    return;
  }
  std::vector<ElasticStart> spawned = startDiscoveredRanks(change->start);
  stopUndiscoveredRanks(change->stop);
  elastic_.started(spawned);
}

std::vector<ElasticStart> SupervisedJob::startDiscoveredRanks(
    const std::vector<ElasticStart>& ranks) {
  std::vector<ElasticStart> spawned;
  for (const ElasticStart& start : ranks) {
    Expected<RankProcess> process = starter_->start(start.rank, start.host);
    if (!process) {
      printError(fmt::format("elastic: cannot start rank {} on {}: {}", start.rank, start.host.name,
                             process.status().message()));
      continue;
    }
    supervisor_.addRank(*process, start.host.name, !start.host.local);
    spawned.push_back(start);
    printError(fmt::format("elastic: started rank {} on host {}", start.rank, start.host.name));
  }
  return spawned;
}

void SupervisedJob::stopUndiscoveredRanks(const std::vector<int>& ranks) {
  elastic_.stopping(ranks);
  for (int rank : ranks) {
    printError(fmt::format("elastic: stopping rank {} (its host left the discovered set)", rank));
    supervisor_.signalRank(rank, SIGTERM);
  }
}

}  // namespace kolo::launcher
