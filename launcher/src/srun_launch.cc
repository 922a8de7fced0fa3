#include "kolo/launcher/srun_launch.h"

#include <fmt/format.h>

#include "kolo/base/slurm_step.h"

namespace kolo::launcher {
namespace {

const std::string* lookup(const Environment& env, const char* name) {
  auto found = env.find(name);
  return found == env.end() || found->second.empty() ? nullptr : &found->second;
}

// The allocation's tasks (or CPUs) per node, one entry per node of `nodes`.
Expected<std::vector<int>> allocationSlots(const Environment& env, size_t nodes) {
  const char* name = "SLURM_TASKS_PER_NODE";
  const std::string* counts = lookup(env, name);
  if (counts == nullptr) {
    name = "SLURM_JOB_CPUS_PER_NODE";
    counts = lookup(env, name);
  }
  if (counts == nullptr) {
    return Status(Code::kInvalidArgument,
                  "--launcher srun: neither SLURM_TASKS_PER_NODE nor SLURM_JOB_CPUS_PER_NODE is "
                  "set; give --ntasks-per-node");
  }
  KOLO_ASSIGN_OR_RETURN(std::vector<int> slots, expandSlurmTaskCounts(*counts));
  if (slots.size() != nodes) {
    return makeStatus(Code::kInvalidArgument,
                      "--launcher srun: {}={} counts {} node(s) but SLURM_JOB_NODELIST has {}",
                      name, *counts, slots.size(), nodes);
  }
  return slots;
}

}  // namespace

bool insideSlurmAllocation(const Environment& env) {
  return lookup(env, "SLURM_JOB_ID") != nullptr && lookup(env, "SLURM_STEP_ID") == nullptr;
}

std::string chooseLauncher(const LaunchOptions& options, const Environment& env) {
  if (!options.launcher.empty()) return options.launcher;
  const bool hostsNamed = !options.hostList.empty() || !options.hostfile.empty();
  if (insideSlurmAllocation(env) && !hostsNamed && !options.useMpirun) return kLauncherSrun;
  return kLauncherSsh;
}

Expected<std::string> allocationHostList(const Environment& env, int tasksPerNode) {
  const std::string* list = lookup(env, "SLURM_JOB_NODELIST");
  if (list == nullptr) list = lookup(env, "SLURM_NODELIST");
  if (list == nullptr) {
    return Status(Code::kInvalidArgument,
                  "--launcher srun: SLURM_JOB_NODELIST is not set; run kolorun inside an "
                  "allocation (salloc, sbatch) or name the hosts with -H");
  }
  KOLO_ASSIGN_OR_RETURN(std::vector<std::string> nodes, expandSlurmHostList(*list));
  std::vector<int> slots(nodes.size(), tasksPerNode);
  if (tasksPerNode <= 0) {
    KOLO_ASSIGN_OR_RETURN(slots, allocationSlots(env, nodes.size()));
  }
  std::string hosts;
  for (size_t i = 0; i < nodes.size(); ++i) {
    hosts += fmt::format("{}{}:{}", i == 0 ? "" : ",", nodes[i], slots[i]);
  }
  return hosts;
}

Status applySrunLauncher(LaunchOptions& options, const Environment& env) {
  if (options.useMpirun) {
    return Status(Code::kInvalidArgument,
                  "--launcher srun and --mpi both start the ranks; give one of them");
  }
  if (options.localHosts) {
    return Status(Code::kInvalidArgument,
                  "--local-hosts runs every rank on this machine; it cannot be used with "
                  "--launcher srun");
  }
  if (!options.hostDiscoveryScript.empty()) {
    return Status(Code::kInvalidArgument,
                  "--host-discovery-script is not supported with --launcher srun: the "
                  "allocation's nodes are the job's hosts");
  }
  if (lookup(env, "SLURM_JOB_ID") == nullptr) {
    return Status(Code::kInvalidArgument,
                  "--launcher srun: SLURM_JOB_ID is not set; run kolorun inside an allocation "
                  "(salloc, sbatch)");
  }
  if (options.hostList.empty() && options.hostfile.empty()) {
    KOLO_ASSIGN_OR_RETURN(options.hostList, allocationHostList(env, options.ntasksPerNode));
  }
  return Status::ok();
}

std::vector<std::string> buildSrunCommand(const std::string& srun, const std::string& host,
                                          int rank, const std::vector<std::string>& command) {
  std::vector<std::string> argv = {srun,
                                   "--nodes=1",
                                   "--ntasks=1",
                                   "--ntasks-per-node=1",
                                   "--nodelist=" + host,
                                   "--overlap",
                                   "--export=ALL",
                                   fmt::format("--job-name=kolo.rank.{}", rank),
                                   "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

}  // namespace kolo::launcher
