// Starting one local rank: fork + execve with the rank's environment, stdout and stderr on pipes,
// stdin on /dev/null, its own process group and PR_SET_PDEATHSIG so it cannot outlive kolorun.
// fork rather than posix_spawn because prctl must run in the child before exec.
//
// Thread: the launcher's main thread, with SIGINT/SIGTERM/SIGCHLD blocked (the child unblocks).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "kolo/base/status.h"

namespace kolo::launcher {

struct RankProcess {
  int rank = -1;
  pid_t pid = -1;     // also the process group id: the rank leads its own group
  int stdoutFd = -1;  // read ends, non-blocking, close-on-exec; owned by the caller
  int stderrFd = -1;
  // With stdinData: the write end of the rank's stdin, kept open for the rank's lifetime so that
  // its end-of-file tells a remote rank's shell that kolorun (or its ssh) is gone. Owned by the
  // caller; -1 otherwise.
  int stdinFd = -1;
};

// Finds `command` the way a shell does: a name containing '/' is used as is, anything else is
// looked up in the ':'-separated `searchPath`. The error names the command and why it cannot run.
Expected<std::string> resolveExecutable(const std::string& command, const std::string& searchPath);

// Forks and execs `executable` with `argv` (argv[0] included) and `env` ("NAME=VALUE"), bound to
// the CPUs `cpus` unless it is empty. stdin is /dev/null, or, when `stdinData` is not empty, a pipe that
// delivers it and stays open (RankProcess::stdinFd): how a remote rank's secret travels through
// ssh, and how the remote side notices kolorun is gone. Returns
// once exec has succeeded; an exec failure (permission, bad format) comes back as an error naming
// the executable and the rank, and the child is already reaped.
Expected<RankProcess> spawnRank(int rank, const std::string& executable,
                                const std::vector<std::string>& argv,
                                const std::vector<std::string>& env,
                                const std::vector<int>& cpus = {},
                                const std::string& stdinData = "");

}  // namespace kolo::launcher
