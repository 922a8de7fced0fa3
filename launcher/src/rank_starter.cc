#include "kolo/launcher/rank_starter.h"

#include <filesystem>
#include <utility>

#include "kolo/launcher/srun_launch.h"
#include "kolo/protocol/env_contract.h"

namespace kolo::launcher {

SshOptions sshOptionsFor(const LaunchOptions& options) {
  SshOptions ssh;
  ssh.port = options.sshPort;
  ssh.identityFile = options.sshIdentityFile;
  return ssh;
}

RankStarter::RankStarter(const LaunchOptions& options, const HostAssignment& assignment,
                         const JobInfo& job, const Environment& base, std::string executable,
                         std::string sshExecutable, std::vector<std::vector<int>> binding)
    : options_(options),
      assignment_(assignment),
      job_(job),
      base_(base),
      executable_(std::move(executable)),
      sshExecutable_(std::move(sshExecutable)),
      binding_(std::move(binding)),
      ssh_(sshOptionsFor(options)) {
  std::error_code cwdError;
  workdir_ = std::filesystem::current_path(cwdError).string();
}

Expected<RankProcess> RankStarter::start(int rank, const HostSlots& host) {
  if (host.local) return startLocal(rank, host);
  return options_.launcher == kLauncherSrun ? startSrun(rank, host) : startRemote(rank, host);
}

Environment RankStarter::withIdentity(Environment env, int rank, const HostSlots& host) const {
  if (!isLaunchRank(rank)) {
    env[protocol::kEnvRank] = std::to_string(rank);
    // Only a bound for the launch rank: an elastic rank's size comes from its generation.
    env[protocol::kEnvSize] = std::to_string(rank + 1);
    env[protocol::kEnvHostname] = host.name;
    env[protocol::kEnvBindAddress] = host.address;
    env[kEnvTorchRank] = std::to_string(rank);
  }
  return env;
}

Expected<RankProcess> RankStarter::startLocal(int rank, const HostSlots& host) {
  const bool launchRank = isLaunchRank(rank);
  Environment env = withIdentity(
      buildRankEnvironment(assignment_, launchRank ? rank : 0, job_, base_, options_.env), rank,
      host);
  const int index = launchRank ? nextMachineIndex_++ : -1;
  const std::vector<int> cpus = index >= 0 && index < static_cast<int>(binding_.size())
                                    ? binding_[index]
                                    : std::vector<int>{};
  return spawnRank(rank, executable_, options_.command, toEnvStrings(env), cpus);
}

Expected<RankProcess> RankStarter::startRemote(int rank, const HostSlots& host) {
  if (sshExecutable_.empty()) {
    return Status(Code::kInvalidArgument,
                  "no ssh to start rank " + std::to_string(rank) + " on host " + host.name);
  }
  Environment vars = withIdentity(
      remoteRankEnvironment(assignment_, isLaunchRank(rank) ? rank : 0, job_, base_, options_.env),
      rank, host);
  std::vector<std::string> sshArgv =
      buildSshCommand(ssh_, host.name, buildRemoteLine(vars, options_.command, workdir_));
  return spawnRank(rank, sshExecutable_, sshArgv, toEnvStrings(base_), {},
                   remoteStdin(job_.secretHex));
}

}  // namespace kolo::launcher

namespace kolo::launcher {

Expected<RankProcess> RankStarter::startSrun(int rank, const HostSlots& host) {
  // The rank's whole environment, secret included, is srun's own: --export=ALL hands it to the
  // step through Slurm, so nothing secret is on a command line.
  Environment env = withIdentity(
      buildRankEnvironment(assignment_, isLaunchRank(rank) ? rank : 0, job_, base_, options_.env),
      rank, host);
  return spawnRank(rank, sshExecutable_,
                   buildSrunCommand(sshExecutable_, host.name, rank, options_.command),
                   toEnvStrings(env));
}

}  // namespace kolo::launcher
