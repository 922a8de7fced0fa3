// What Slurm tells a task of a job step (srun) about its place in the step: rank, size, node,
// tasks per node; and the parsers for Slurm's compressed host and count lists. Pure functions
// of the environment, no I/O: the rendezvous (kolo/rendezvous/slurm_rendezvous.h) and the
// runtime read the step through these.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/base/status.h"

namespace kolo {

// "n[1-3,7]" -> n1 n2 n3 n7; "a1,b[01-03]" -> a1 b01 b02 b03 (zero padding kept); several
// bracket groups multiply ("r[1-2]n[1-2]" -> r1n1 r1n2 r2n1 r2n2). Commas inside brackets do not
// split hosts. A malformed list (unbalanced bracket, reversed or non-numeric range) is an error
// naming the list and what is wrong with it.
Expected<std::vector<std::string>> expandSlurmHostList(std::string_view list);

// SLURM_STEP_TASKS_PER_NODE: "2(x3),1" -> 2 2 2 1.
Expected<std::vector<int>> expandSlurmTaskCounts(std::string_view counts);

struct SlurmStep {
  std::string jobId;               // SLURM_JOB_ID
  std::string stepId;              // SLURM_STEP_ID
  std::string nodeName;            // SLURMD_NODENAME
  int rank = 0;                    // SLURM_PROCID
  int size = 1;                    // SLURM_STEP_NUM_TASKS (SLURM_NTASKS when absent)
  int nodeId = 0;                  // SLURM_NODEID: index of this node in `nodes`
  int localRank = 0;               // SLURM_LOCALID
  int localSize = 1;               // tasks of this step on this node
  int crossRank = 0;               // index of this node among the nodes that run this local rank
  int crossSize = 1;               // nodes that run this local rank
  std::vector<std::string> nodes;  // SLURM_STEP_NODELIST, expanded
  std::vector<int> tasksPerNode;   // SLURM_STEP_TASKS_PER_NODE, expanded
};

// nullopt when this process is not a task of a Slurm job step (no SLURM_STEP_ID or
// SLURM_PROCID); an error naming the variable when one of the step's variables is malformed.
Expected<std::optional<SlurmStep>> slurmStepFromEnv();

// The number of tasks Slurm started in this process's step, or 0 when not in a step. Used to
// refuse a world of one rank inside a step of several tasks.
int slurmStepTaskCount();

}  // namespace kolo
