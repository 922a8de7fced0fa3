// kolorun --mpi: mpirun spawns the ranks and tags their output; kolorun keeps the store alive,
// passes the job's contract variables through mpirun's environment (never its command line),
// forwards SIGINT/SIGTERM and returns mpirun's exit code.
//
// Thread: the launcher's main thread, with SIGCHLD, SIGINT and SIGTERM blocked
// (blockSupervisorSignals).
#pragma once

#include "kolo/launcher/host_assignment.h"
#include "kolo/launcher/launch_options.h"
#include "kolo/launcher/rank_environment.h"

namespace kolo::launcher {

// Runs the job under mpirun (remote_command.h's buildMpirunCommand) and waits for it.
int runUnderMpirun(const LaunchOptions& options, const HostAssignment& assignment,
                   const JobInfo& job, const Environment& base);

}  // namespace kolo::launcher
