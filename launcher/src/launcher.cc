#include "kolo/launcher/launcher.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <utility>

#include "kolo/launcher/check_build_topology.h"
#include "kolo/launcher/job_resources.h"
#include "kolo/launcher/job_status.h"
#include "kolo/launcher/kolorun_messages.h"
#include "kolo/launcher/launch_site.h"
#include "kolo/launcher/mpirun_delegation.h"
#include "kolo/launcher/rank_spawner.h"
#include "kolo/launcher/rank_starter.h"
#include "kolo/launcher/remote_command.h"
#include "kolo/launcher/srun_launch.h"
#include "kolo/launcher/store_server.h"
#include "kolo/launcher/supervised_job.h"
#include "kolo/launcher/supervisor.h"
#include "kolo/protocol/env_contract.h"
#include "kolo/protocol/store_wire.h"

namespace kolo::launcher {
namespace {

constexpr const char* kRedacted = "<redacted>";

// --help, --version, --check-build, --help-env or a usage error: print what the parser wrote.
int printParserOutcome(const ParsedCommandLine& parsed, const char* const* envp) {
  std::fputs(parsed.stdoutText.c_str(), stdout);
  if (parsed.showTopology) {
    std::fflush(stdout);
    std::fputs(checkBuildTopology(selfExecutablePath(), envp).c_str(), stdout);
  }
  std::fputs(parsed.stderrText.c_str(), stderr);
  return parsed.exitCode;
}

// A bare `-x NAME` passes on kolorun's value; say so when there is none. A KOLO_* name Kolo does
// not declare (a typo) gets a warning naming the closest declared one.
void warnUnsetPassThrough(const std::vector<EnvSetting>& settings, const Environment& base) {
  for (const EnvSetting& setting : settings) {
    if (!setting.value && base.count(setting.name) == 0) {
      printError(fmt::format("warning: -x {}: {} is not set in kolorun's environment; not passed",
                             setting.name, setting.name));
    }
  }
  for (const std::string& warning : unknownSettingsWarnings(base, settings)) {
    printError("warning: " + warning);
  }
}

// The job's identity: id, rendezvous port and secret (raw for the store, hex for the ranks).
struct JobIdentity {
  JobInfo job;
  std::string secret;
};

Expected<JobIdentity> drawJobIdentity(const LaunchOptions& options, const LaunchSite& site) {
  auto jobId = makeJobId();
  auto secret = makeSecret();
  auto masterPort = pickFreePort();
  for (const Status& status : {jobId.status(), secret.status(), masterPort.status()}) {
    if (!status.isOk()) return status;
  }
  JobIdentity identity;
  identity.job.jobId = *jobId;
  identity.job.masterAddr = site.assignment.hostOf(0).address;
  identity.job.masterPort = *masterPort;
  identity.job.secretHex = protocol::toHex(*secret);
  identity.job.startTimeoutSeconds = options.startTimeoutSeconds;
  identity.job.networkInterface = options.networkInterface;
  identity.secret = std::move(*secret);
  return identity;
}

std::string storeUrl(const std::string& address, const std::string& port) {
  return fmt::format("{}{}:{}", protocol::kStoreSchemeTcp, address, port);
}

// Resolves the command against the PATH the ranks will see, before anything starts, so a typo
// is one clear error rather than N failed ranks. Remote commands are resolved by the remote
// shell: empty when no host is local.
Expected<std::string> resolveLocalCommand(const LaunchOptions& options, const LaunchSite& site,
                                          const JobInfo& job, const Environment& base) {
  bool anyLocal = false;
  for (const HostSlots& host : site.assignment.hosts()) anyLocal = anyLocal || host.local;
  if (!anyLocal) return std::string();
  Environment rank0Env = buildRankEnvironment(site.assignment, 0, job, base, options.env);
  return resolveExecutable(options.command.front(), rank0Env["PATH"]);
}

Status checkRemoteHostsReachable(const LaunchOptions& options, const LaunchSite& site) {
  if (!site.remote || options.launcher == kLauncherSrun) return Status::ok();
  std::vector<std::string> remoteHosts;
  for (const HostSlots& host : site.assignment.hosts()) {
    if (!host.local) remoteHosts.push_back(host.name);
  }
  return checkSshReachable(remoteHosts, sshOptionsFor(options));
}

Expected<std::unique_ptr<StoreServer>> startStore(const LaunchOptions& options,
                                                  const LaunchSite& site, std::string secret) {
  StoreServerOptions storeOptions;
  storeOptions.bindAddress = site.storeAddress();
  storeOptions.secret = std::move(secret);
  // An elastic job's later ranks get launch ranks up to what discovery may add over time.
  storeOptions.worldSize = options.hostDiscoveryScript.empty() ? options.np : (1 << 20);
  storeOptions.log = logLine;
  return StoreServer::start(std::move(storeOptions));
}

// Settles options.launcher (srun_launch.h): srun takes the allocation's hosts, local runs every
// named host here.
Status settleLauncher(LaunchOptions& options, const Environment& base) {
  options.launcher = chooseLauncher(options, base);
  if (options.launcher == kLauncherSrun) return applySrunLauncher(options, base);
  if (options.launcher == kLauncherLocal) {
    options.localHosts =
        options.localHosts || !options.hostList.empty() || !options.hostfile.empty();
  }
  return Status::ok();
}

// How one rank's command starts: the command itself, or its srun step.
std::string rankCommandLine(const LaunchOptions& options, const HostSlots& host, int rank) {
  if (options.launcher != kLauncherSrun) return joinCommand(options.command);
  return joinCommand(buildSrunCommand("srun", host.name, rank, options.command));
}

}  // namespace

std::string describeJob(const HostAssignment& assignment, const JobInfo& job,
                        const LaunchOptions& options, const Environment& base) {
  std::string text = fmt::format("kolorun dry run: {} rank(s) on {} host(s), job {}\n",
                                 assignment.worldSize(), assignment.hosts().size(), job.jobId);
  for (size_t h = 0; h < assignment.hosts().size(); ++h) {
    const HostSlots& host = assignment.hosts()[h];
    text += fmt::format("host {}: {} ({}, {} slot(s), {} rank(s){})\n", h, host.name, host.address,
                        host.slots, assignment.localSize(static_cast<int>(h)),
                        host.local ? ", local" : fmt::format(", {}", options.launcher));
  }
  for (int rank = 0; rank < assignment.worldSize(); ++rank) {
    const LaunchPlacement& place = assignment.placement(rank);
    text += fmt::format("rank {}: host {} local rank {}: {}\n", rank, assignment.hostOf(rank).name,
                        place.localRank, rankCommandLine(options, assignment.hostOf(rank), rank));
    Environment shown = contractEnvironment(assignment, rank, job);
    Environment full = buildRankEnvironment(assignment, rank, job, base, options.env);
    for (const EnvSetting& setting : options.env) {
      if (auto found = full.find(setting.name); found != full.end()) {
        shown.insert_or_assign(setting.name, found->second);
      }
    }
    for (const auto& [name, value] : shown) {
      // Show what the rank really gets, including a -x override of a contract variable.
      auto actual = full.find(name);
      const bool secret = name == protocol::kEnvSecret;
      text += fmt::format("  {}={}\n", name,
                          secret ? kRedacted : (actual != full.end() ? actual->second : value));
    }
  }
  return text;
}

int runKolorun(int argc, const char* const* argv, const char* const* envp) {
  const Environment base = environmentFrom(envp);
  ParsedCommandLine parsed = parseCommandLine(argc, argv, insideSlurmAllocation(base));
  if (parsed.askStatus) return printJobStatus(parsed.statusPid);
  if (parsed.exitNow) return printParserOutcome(parsed, envp);
  LaunchOptions& options = parsed.options;
  warnUnsetPassThrough(options.env, base);
  if (Status status = settleLauncher(options, base); !status.isOk()) {
    return stopWith(status, kExitUsage);
  }

  auto hosts = resolveHosts(options);
  if (!hosts) return stopWith(hosts.status(), kExitUsage);
  // Under srun every rank, this node's too, is a step of the allocation.
  if (options.launcher == kLauncherSrun) {
    for (HostSlots& host : hosts->hosts) host.local = false;
  }
  if (options.np == 0) options.np = totalSlots(hosts->hosts);
  auto site = placeRanks(std::move(*hosts), options);
  if (!site) return stopWith(site.status(), kExitUsage);
  auto identity = drawJobIdentity(options, *site);
  if (!identity) return stopWith(identity.status(), kExitLaunchFailed);
  JobInfo& job = identity->job;
  if (options.dryRun) {
    job.storeUrl = storeUrl(site->storeAddress(), "PORT");
    std::fputs(describeJob(site->assignment, job, options, base).c_str(), stdout);
    return 0;
  }

  std::string executable;
  if (!options.useMpirun) {
    auto found = resolveLocalCommand(options, *site, job, base);
    if (!found) return stopWith(found.status(), kExitCannotExecute);
    executable = std::move(*found);
    Status reachable = checkRemoteHostsReachable(options, *site);
    if (!reachable.isOk()) return stopWith(reachable, kExitLaunchFailed);
  }
  if (Status status = blockSupervisorSignals(); !status.isOk()) {
    return stopWith(status, kExitLaunchFailed);
  }
  auto store = startStore(options, *site, std::move(identity->secret));
  if (!store) return stopWith(store.status(), kExitLaunchFailed);
  job.storeUrl = storeUrl(site->storeAddress(), std::to_string((*store)->port()));
  job.elastic = options.minNp > 0;
  if (options.useMpirun) return runUnderMpirun(options, site->assignment, job, base);
  SupervisedJob supervised(options, *site, job, base, **store, std::move(executable));
  return supervised.run();
}

}  // namespace kolo::launcher
