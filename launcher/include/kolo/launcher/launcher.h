// kolorun's top level: parse the command line, place the ranks on hosts (-H, --hostfile, or this
// machine), draw the job id and secret, start the authenticated store, then describe the job
// (--dry-run), hand it to mpirun (--mpi), or spawn (directly or through ssh) and supervise it.
//
// Thread: the launcher's main thread; the store server adds its own io thread.
#pragma once

#include <string>
#include <vector>

#include "kolo/launcher/host_assignment.h"
#include "kolo/launcher/launch_options.h"
#include "kolo/launcher/rank_environment.h"

namespace kolo::launcher {

// The --dry-run report: rank map, command, and for each rank the variables kolorun defines
// (contract, torch names and -x settings), sorted by name.
std::string describeJob(const HostAssignment& assignment, const JobInfo& job,
                        const LaunchOptions& options, const Environment& base);

// Everything main() does; returns the process exit code.
int runKolorun(int argc, const char* const* argv, const char* const* envp);

}  // namespace kolo::launcher
