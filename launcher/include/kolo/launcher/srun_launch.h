// kolorun inside a Slurm allocation (salloc, sbatch): every rank starts as its own one-task srun
// step on its node (`--launcher srun`), so Slurm tracks, accounts and cancels it, while kolorun
// keeps what it does for ssh ranks: the rendezvous store, rank-tagged output, fail-fast and the
// first-failure summary. Which launcher a job uses, the allocation's hosts and slots, and the
// srun command line are pure functions of the options and the environment, unit-tested.
//
// Thread: the launcher's main thread.
#pragma once

#include <string>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/launcher/launch_options.h"
#include "kolo/launcher/rank_environment.h"

namespace kolo::launcher {

inline constexpr const char* kLauncherSrun = "srun";
inline constexpr const char* kLauncherSsh = "ssh";
inline constexpr const char* kLauncherLocal = "local";

// Inside an allocation but not inside a job step: SLURM_JOB_ID set, SLURM_STEP_ID not (a batch
// script, or salloc's shell or command). Inside a step, kolorun is itself a task and must not
// start more steps.
bool insideSlurmAllocation(const Environment& env);

// The launcher the job uses: --launcher when given; otherwise srun inside an allocation when no
// -H/--hostfile names the hosts and --mpi is not given, else ssh (local ranks forked directly).
std::string chooseLauncher(const LaunchOptions& options, const Environment& env);

// "kn1:2,kn2:2" for -H: the allocation's nodes (SLURM_JOB_NODELIST) with SLURM_TASKS_PER_NODE
// slots each (SLURM_JOB_CPUS_PER_NODE without one), or `tasksPerNode` when positive
// (--ntasks-per-node). An error names the missing or malformed variable.
Expected<std::string> allocationHostList(const Environment& env, int tasksPerNode);

// Checks --launcher srun against the other options (no --mpi, elastic growth or --local-hosts;
// an allocation to run in) and, without -H/--hostfile, puts the allocation's hosts in
// options.hostList. -np defaults to the allocation's slots.
Status applySrunLauncher(LaunchOptions& options, const Environment& env);

// srun --nodes=1 --ntasks=1 --ntasks-per-node=1 --nodelist=HOST --overlap --export=ALL
// --job-name=kolo.rank.N -- COMMAND. --overlap: the rank's step shares the node's allocated CPUs
// with the other ranks' steps instead of waiting for them. The rank's environment reaches srun as
// its own environment (--export=ALL), never on the command line.
std::vector<std::string> buildSrunCommand(const std::string& srun, const std::string& host,
                                          int rank, const std::vector<std::string>& command);

}  // namespace kolo::launcher
