#include "kolo/launcher/launcher.h"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "kolo/base/job_abort.h"
#include "kolo/base/settings.h"

#include "kolo/launcher/check_build_topology.h"
#include "kolo/launcher/elastic_job.h"
#include "kolo/launcher/core_binding.h"
#include "kolo/launcher/host_list.h"
#include "kolo/launcher/job_resources.h"
#include "kolo/launcher/rank_liveness.h"
#include "kolo/launcher/rank_spawner.h"
#include "kolo/launcher/remote_command.h"
#include "kolo/launcher/store_server.h"
#include "kolo/launcher/supervisor.h"
#include "kolo/protocol/env_contract.h"
#include "kolo/protocol/elastic.h"
#include "kolo/protocol/store_wire.h"

namespace kolo::launcher {
namespace {

// The shell's code for "command cannot be executed / not found".
constexpr int kExitCannotExecute = 127;
constexpr const char* kRedacted = "<redacted>";

void printError(const std::string& message) {
  std::fputs(fmt::format("kolorun: {}\n", message).c_str(), stderr);
  std::fflush(stderr);
}

// Written with one write(2) from the store's io thread, so it never splits a rank's line.
void logLine(const std::string& line) {
  std::string text = "kolorun: " + line + "\n";
  (void)!::write(2, text.data(), text.size());
}

bool anyRemote(const HostAssignment& assignment) {
  for (const HostSlots& host : assignment.hosts()) {
    if (!host.local) return true;
  }
  return false;
}

Expected<std::vector<HostSlots>> hostsFor(const LaunchOptions& options) {
  if (!options.hostList.empty()) return parseHostList(options.hostList);
  if (!options.hostfile.empty()) return readHostfile(options.hostfile);
  return std::vector<HostSlots>{HostSlots{localHostname(), "127.0.0.1", options.np, true}};
}

// --mpi: mpirun does the spawning and the output tagging; kolorun keeps the store alive, forwards
// SIGINT/SIGTERM and returns mpirun's exit code.
int runDelegated(const std::vector<std::string>& argv, const Environment& env) {
  std::vector<std::string> envStrings = toEnvStrings(env);
  std::vector<char*> argvPtrs;
  for (const std::string& a : argv) argvPtrs.push_back(const_cast<char*>(a.c_str()));
  argvPtrs.push_back(nullptr);
  std::vector<char*> envPtrs;
  for (const std::string& e : envStrings) envPtrs.push_back(const_cast<char*>(e.c_str()));
  envPtrs.push_back(nullptr);
  posix_spawnattr_t attr;
  ::posix_spawnattr_init(&attr);
  sigset_t none;
  sigset_t defaults;
  ::sigemptyset(&none);
  ::sigemptyset(&defaults);
  ::sigaddset(&defaults, SIGPIPE);
  ::posix_spawnattr_setsigmask(&attr, &none);
  ::posix_spawnattr_setsigdefault(&attr, &defaults);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  // The PATH search uses kolorun's PATH, which the delegated mpirun inherits anyway.
  pid_t pid = -1;
  // Only stdin, stdout and stderr: mpirun and its ranks must not hold the store's sockets.
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  int rc =
      ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, argvPtrs.data(), envPtrs.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    printError(fmt::format("--mpi: cannot run {}: {}", argv[0], std::strerror(rc)));
    return kExitCannotExecute;
  }
  sigset_t waited;
  ::sigemptyset(&waited);
  for (int sig : {SIGCHLD, SIGINT, SIGTERM}) ::sigaddset(&waited, sig);
  while (true) {
    siginfo_t info{};
    int sig = ::sigwaitinfo(&waited, &info);
    if (sig == SIGINT || sig == SIGTERM) ::kill(pid, sig);
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    }
  }
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
                        host.local ? ", local" : ", ssh");
  }
  const std::string command = joinCommand(options.command);
  for (int rank = 0; rank < assignment.worldSize(); ++rank) {
    const RankPlacement& place = assignment.placement(rank);
    text += fmt::format("rank {}: host {} local rank {}: {}\n", rank, assignment.hostOf(rank).name,
                        place.localRank, command);
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
  ParsedCommandLine parsed = parseCommandLine(argc, argv);
  if (parsed.exitNow) {
    std::fputs(parsed.stdoutText.c_str(), stdout);
    if (parsed.showTopology) {
      std::fflush(stdout);
      std::fputs(checkBuildTopology(selfExecutablePath(), envp).c_str(), stdout);
    }
    std::fputs(parsed.stderrText.c_str(), stderr);
    return parsed.exitCode;
  }
  LaunchOptions& options = parsed.options;
  const Environment base = environmentFrom(envp);
  for (const EnvSetting& setting : options.env) {
    if (!setting.value && base.count(setting.name) == 0) {
      printError(fmt::format("warning: -x {}: {} is not set in kolorun's environment; not passed",
                             setting.name, setting.name));
    }
  }
  for (const std::string& warning : unknownSettingsWarnings(base, options.env)) {
    printError("warning: " + warning);
  }

  auto hosts = hostsFor(options);
  if (!hosts) {
    printError(hosts.status().message());
    return 2;
  }
  const std::string hostname = localHostname();
  std::string localAddress = "127.0.0.1";
  if (!options.networkInterface.empty()) {
    auto address = interfaceAddress(options.networkInterface);
    if (!address) {
      printError(address.status().message());
      return 2;
    }
    localAddress = *address;
  }
  if (!options.hostList.empty() || !options.hostfile.empty()) {
    classifyHosts(*hosts, hostname, localAddress);
    if (options.localHosts) {
      for (HostSlots& host : *hosts) {
        host.local = true;
        host.address = localAddress;
      }
    }
    bool remoteHost = false;
    for (const HostSlots& host : *hosts) remoteHost = remoteHost || !host.local;
    // Remote ranks must reach this machine's ranks and store: loopback will not do.
    if (remoteHost && options.networkInterface.empty()) {
      localAddress = primaryAddress();
      classifyHosts(*hosts, hostname, localAddress);
    }
  } else if (!options.networkInterface.empty()) {
    (*hosts)[0].address = localAddress;
  }
  if (options.np == 0) {
    for (const HostSlots& host : *hosts) options.np += host.slots;
  }
  auto assignment = HostAssignment::blockPlace(*hosts, options.np);
  if (!assignment) {
    printError(assignment.status().message());
    return 2;
  }
  for (int rank : options.ranksFilter) {
    if (rank >= options.np) {
      printError(
          fmt::format("--ranks-filter names rank {} but the job has {} rank(s)", rank, options.np));
      return 2;
    }
  }
  const bool remote = anyRemote(*assignment);

  auto jobId = makeJobId();
  auto secret = makeSecret();
  auto masterPort = pickFreePort();
  for (const Status& status : {jobId.status(), secret.status(), masterPort.status()}) {
    if (!status.isOk()) {
      printError(status.message());
      return 1;
    }
  }
  JobInfo job;
  job.jobId = *jobId;
  job.masterAddr = assignment->hostOf(0).address;
  job.masterPort = *masterPort;
  job.secretHex = protocol::toHex(*secret);
  job.startTimeoutSeconds = options.startTimeoutSeconds;
  job.networkInterface = options.networkInterface;
  // A single-host job's store listens on loopback only; with remote hosts it listens on the one
  // address the ranks are given (KOLO_STORE), never on every interface.
  const std::string storeBind = remote ? localAddress : "127.0.0.1";
  const std::string storeHost = remote ? localAddress : "127.0.0.1";

  if (options.dryRun) {
    job.storeUrl = fmt::format("{}{}:{}", protocol::kStoreSchemeTcp, storeHost, "PORT");
    std::fputs(describeJob(*assignment, job, options, base).c_str(), stdout);
    return 0;
  }

  // Resolve against the PATH the ranks will see, before anything starts, so a typo is one clear
  // error rather than N failed ranks.
  // Remote commands are resolved by the remote shell.
  std::string executable;
  bool anyLocal = false;
  for (const HostSlots& host : assignment->hosts()) anyLocal = anyLocal || host.local;
  if (anyLocal && !options.useMpirun) {
    Environment rank0Env = buildRankEnvironment(*assignment, 0, job, base, options.env);
    auto found = resolveExecutable(options.command.front(), rank0Env["PATH"]);
    if (!found) {
      printError(found.status().message());
      return kExitCannotExecute;
    }
    executable = *found;
  }
  SshOptions ssh;
  ssh.port = options.sshPort;
  ssh.identityFile = options.sshIdentityFile;
  if (remote && !options.useMpirun) {
    std::vector<std::string> remoteHosts;
    for (const HostSlots& host : assignment->hosts()) {
      if (!host.local) remoteHosts.push_back(host.name);
    }
    if (Status reachable = checkSshReachable(remoteHosts, ssh); !reachable.isOk()) {
      printError(reachable.message());
      return 1;
    }
  }

  if (Status status = blockSupervisorSignals(); !status.isOk()) {
    printError(status.message());
    return 1;
  }
  StoreServerOptions storeOptions;
  storeOptions.bindAddress = storeBind;
  storeOptions.secret = *secret;
  // An elastic job's later ranks get launch ranks up to what discovery may add over time.
  storeOptions.worldSize = options.hostDiscoveryScript.empty() ? options.np : (1 << 20);
  storeOptions.log = logLine;
  auto server = StoreServer::start(std::move(storeOptions));
  if (!server) {
    printError(server.status().message());
    return 1;
  }
  job.storeUrl = fmt::format("{}{}:{}", protocol::kStoreSchemeTcp, storeHost, (*server)->port());
  job.elastic = options.minNp > 0;

  if (options.useMpirun) {
    if (options.timeoutSeconds > 0 || !options.outputDir.empty() || !options.ranksFilter.empty() ||
        options.prefixTimestamp) {
      printError(
          "warning: with --mpi, mpirun supervises the ranks and tags their output; --timeout, "
          "--output-filename, --ranks-filter and --prefix-timestamp are not applied");
    }
    std::vector<std::string> exported = {protocol::kEnvStore, protocol::kEnvSecret,
                                         protocol::kEnvJobId, protocol::kEnvStartTimeout};
    Environment env = base;
    for (const char* name : {protocol::kEnvStore, protocol::kEnvSecret, protocol::kEnvJobId,
                             protocol::kEnvStartTimeout}) {
      env[name] = contractEnvironment(*assignment, 0, job)[name];
    }
    for (const EnvSetting& setting : options.env) {
      if (setting.value) env[setting.name] = *setting.value;
      if (env.count(setting.name) > 0) exported.push_back(setting.name);
    }
    return runDelegated(buildMpirunCommand(*assignment, options.bindTo, exported, options.command),
                        env);
  }

  SupervisorOptions supervisorOptions;
  supervisorOptions.timeoutSeconds = options.timeoutSeconds;
  supervisorOptions.killGraceSeconds = options.killGraceSeconds;
  // A one-rank job has nobody to rendezvous with and may never open the store.
  supervisorOptions.startTimeoutSeconds = options.np > 1 ? options.startTimeoutSeconds : 0;
  StoreServer* store = server->get();
  supervisorOptions.joinedRanks = [store] { return store->joinedRanks(); };
  supervisorOptions.outputDir = options.outputDir;
  supervisorOptions.ranksFilter = options.ranksFilter;
  supervisorOptions.prefixTimestamp = options.prefixTimestamp;
  ElasticOptions elasticOptions;
  elasticOptions.minNp = options.minNp;
  elasticOptions.maxNp = options.maxNp;
  elasticOptions.resetLimit = options.resetLimit;
  elasticOptions.discoveryScript = options.hostDiscoveryScript;
  ElasticJob elastic(
      elasticOptions, job.jobId,
      [store](const std::string& key, std::string value) { store->set(key, std::move(value)); },
      [&](std::vector<HostSlots>& found) {
        classifyHosts(found, hostname, localAddress);
        // Without --local-hosts, every name for this machine (localhost, 127.x, its hostname)
        // is the one local host the job started on.
        std::string here;
        for (const HostSlots& host : assignment->hosts()) {
          if (host.local && here.empty()) here = host.name;
        }
        for (HostSlots& host : found) {
          if (options.localHosts) host.local = true;
          if (host.local) host.address = localAddress;
          if (host.local && !options.localHosts && !here.empty()) host.name = here;
        }
      });
  if (job.elastic) {
    supervisorOptions.tolerateFailure = [&elastic](int rank, int) {
      return elastic.tolerateFailure(rank);
    };
  }
  // Fault handling (docs/RELIABILITY.md): the first failure goes to the store for the
  // survivors; heartbeats of open Kolo sessions catch frozen ranks kolorun cannot waitpid.
  supervisorOptions.publishFailure = [store, key = jobAbortKey(job.jobId),
                                      claim = jobAbortClaimKey(job.jobId)](const PeerFailure& f) {
    store->setIfUnclaimed(key, f.encode(), claim);
  };
  supervisorOptions.abortGraceSeconds = settingSeconds("KOLO_ABORT_GRACE_SECONDS");
  supervisorOptions.heartbeatTimeoutSeconds = settingSeconds("KOLO_HEARTBEAT_TIMEOUT_SECONDS");
  supervisorOptions.heartbeats = [store, prefix = job.jobId + "/heartbeat/"] {
    return parseHeartbeats(store->valuesWithPrefix(prefix, 0.5), prefix);
  };
  // Host discovery runs from the supervisor's loop; it needs spawnOne, defined further down.
  std::function<void()> discoveryTick;
  if (job.elastic && elastic.hasDiscovery()) {
    supervisorOptions.tickSeconds = settingSeconds("KOLO_DISCOVERY_INTERVAL_SECONDS");
    supervisorOptions.onTick = [&discoveryTick] {
      if (discoveryTick) discoveryTick();
    };
  }
  Supervisor supervisor(supervisorOptions);
  if (Status status = supervisor.open(); !status.isOk()) {
    printError(status.message());
    return 1;
  }
  if (Status status = supervisor.prepareOutputFiles(options.np); !status.isOk()) {
    printError(status.message());
    return 1;
  }
  // Every local "host" shares this machine's CPUs, so binding counts their ranks together.
  int machineRanks = 0;
  for (size_t h = 0; h < assignment->hosts().size(); ++h) {
    if (assignment->hosts()[h].local) machineRanks += assignment->localSize(static_cast<int>(h));
  }
  auto binding = planCpuBinding(options.bindTo, machineRanks, probeCpuLayout(allowedCpus()));
  if (!binding) {
    printError(binding.status().message());
    return 2;
  }
  std::string sshExecutable;
  if (remote) {
    auto path = base.find("PATH");
    auto found = resolveExecutable("ssh", path != base.end() ? path->second : "/usr/bin:/bin");
    if (!found) {
      printError(found.status().message());
      return kExitCannotExecute;
    }
    sshExecutable = *found;
  }
  std::error_code cwdError;
  const std::string workdir = std::filesystem::current_path(cwdError).string();
  int machineIndex = 0;
  // One rank on `host`: locally (bound to the next CPUs of the plan) or through ssh. Ranks an
  // elastic job adds later reuse rank 0's environment with their own rank and host.
  auto spawnOne = [&](int rank, const HostSlots& host) -> Expected<RankProcess> {
    const bool initial = rank < assignment->worldSize();
    auto withIdentity = [&](Environment env) {
      if (!initial) {
        env[protocol::kEnvRank] = std::to_string(rank);
        // Only a bound for the launch rank: an elastic rank's size comes from its generation.
        env[protocol::kEnvSize] = std::to_string(rank + 1);
        env[protocol::kEnvHostname] = host.name;
        env[protocol::kEnvBindAddress] = host.address;
        env["RANK"] = std::to_string(rank);
      }
      return env;
    };
    if (host.local) {
      Environment env =
          withIdentity(buildRankEnvironment(*assignment, initial ? rank : 0, job, base, options.env));
      const int index = initial ? machineIndex++ : -1;
      const std::vector<int> cpus = index >= 0 && index < static_cast<int>(binding->size())
                                        ? (*binding)[index]
                                        : std::vector<int>{};
      return spawnRank(rank, executable, options.command, toEnvStrings(env), cpus);
    }
    if (sshExecutable.empty()) {
      return Status(Code::kInvalidArgument, "no ssh to start rank " + std::to_string(rank) +
                                                " on host " + host.name);
    }
    Environment vars = withIdentity(
        remoteRankEnvironment(*assignment, initial ? rank : 0, job, base, options.env));
    std::vector<std::string> sshArgv =
        buildSshCommand(ssh, host.name, buildRemoteLine(vars, options.command, workdir));
    return spawnRank(rank, sshExecutable, sshArgv, toEnvStrings(base), {},
                     remoteStdin(job.secretHex));
  };
  std::map<int, std::string> hostOfRank;
  for (int rank = 0; rank < assignment->worldSize(); ++rank) {
    const HostSlots& host = assignment->hostOf(rank);
    Expected<RankProcess> process = spawnOne(rank, host);
    if (!process) {
      printError(process.status().message());
      supervisor.abortAll();
      return process.status().code() == Code::kInvalidArgument ? kExitCannotExecute : 1;
    }
    supervisor.addRank(*process, host.name);
    hostOfRank[rank] = host.name;
  }
  if (job.elastic) elastic.start(hostOfRank);
  discoveryTick = [&] {
    auto change = elastic.discover();
    if (!change) {
      printError("elastic: " + change.status().message());
      return;
    }
    std::vector<ElasticStart> spawned;
    for (const ElasticStart& start : change->start) {
      Expected<RankProcess> process = spawnOne(start.rank, start.host);
      if (!process) {
        printError(fmt::format("elastic: cannot start rank {} on {}: {}", start.rank,
                               start.host.name, process.status().message()));
        continue;
      }
      supervisor.addRank(*process, start.host.name);
      spawned.push_back(start);
      printError(fmt::format("elastic: started rank {} on host {}", start.rank, start.host.name));
    }
    elastic.stopping(change->stop);
    for (int rank : change->stop) {
      printError(fmt::format("elastic: stopping rank {} (its host left the discovered set)", rank));
      supervisor.signalRank(rank, SIGTERM);
    }
    elastic.started(spawned);
  };
  return supervisor.run();
}

}  // namespace kolo::launcher
