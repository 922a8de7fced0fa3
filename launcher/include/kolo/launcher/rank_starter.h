// RankStarter: starts one rank of the job on its host. A local rank is forked (rank_spawner.h)
// and bound to the next CPUs of the binding plan; a remote one runs through ssh, its secret on
// ssh's stdin (remote_command.h). Ranks an elastic job adds later get rank 0's environment
// with their own rank and host.
//
// Thread: the launcher's main thread.
#pragma once

#include <string>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/launcher/host_assignment.h"
#include "kolo/launcher/launch_options.h"
#include "kolo/launcher/rank_environment.h"
#include "kolo/launcher/rank_spawner.h"
#include "kolo/launcher/remote_command.h"

namespace kolo::launcher {

// The ssh settings of --ssh-port and --ssh-identity-file.
SshOptions sshOptionsFor(const LaunchOptions& options);

class RankStarter {
 public:
  // `executable`: the resolved command for local ranks (empty when no host is local);
  // `sshExecutable`: ssh's path, or srun's with --launcher srun (empty when no host is remote);
  // `binding`: the CPUs of each of this machine's launch ranks (core_binding.h). The references
  // must outlive the starter.
  RankStarter(const LaunchOptions& options, const HostAssignment& assignment, const JobInfo& job,
              const Environment& base, std::string executable, std::string sshExecutable,
              std::vector<std::vector<int>> binding);

  // Starts `rank` on `host`. A rank at or past the assignment's world size is an elastic
  // addition. A remote host without ssh is kInvalidArgument.
  Expected<RankProcess> start(int rank, const HostSlots& host);

 private:
  Expected<RankProcess> startLocal(int rank, const HostSlots& host);
  Expected<RankProcess> startRemote(int rank, const HostSlots& host);
  // --launcher srun: a one-task step on the host's node (srun_launch.h).
  Expected<RankProcess> startSrun(int rank, const HostSlots& host);
  bool isLaunchRank(int rank) const { return rank < assignment_.worldSize(); }
  // An elastic rank's identity over rank 0's environment; a launch rank's environment as is.
  Environment withIdentity(Environment env, int rank, const HostSlots& host) const;

  const LaunchOptions& options_;
  const HostAssignment& assignment_;
  const JobInfo& job_;
  const Environment& base_;
  std::string executable_;
  std::string sshExecutable_;
  std::vector<std::vector<int>> binding_;
  SshOptions ssh_;
  std::string workdir_;       // where remote ranks start: kolorun's working directory
  int nextMachineIndex_ = 0;  // the next launch rank on this machine, into binding_
};

}  // namespace kolo::launcher
