// kolorun's top level: parse the command line, lay out the ranks, create the job's store
// directory and id, then either describe the job (--dry-run) or spawn and supervise it.
//
// Thread: the launcher's main thread (the process's only thread).
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
