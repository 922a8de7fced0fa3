// kolorun's command line, parsed with CLI11 into LaunchOptions.
//
// Thread: the launcher's main thread.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/launcher/rank_environment.h"

namespace kolo::launcher {

struct LaunchOptions {
  int np = 0;
  std::vector<std::string> command;  // program and its arguments
  std::vector<EnvSetting> env;       // -x, in command-line order
  double timeoutSeconds = 0;         // 0: no limit
  double killGraceSeconds = 2.0;
  bool dryRun = false;
  std::string bindTo = "core";  // core | numa | none
  std::string hostList;         // -H a:2,b:2
  std::string hostfile;         // --hostfile FILE
  // --local-hosts: every -H/--hostfile host runs on this machine, each keeping its name as the
  // ranks' host identity (KOLO_HOSTNAME), so one machine simulates a multi-host job.
  bool localHosts = false;
  double startTimeoutSeconds = 30;
  std::string networkInterface;
  std::string outputDir;      // --output-filename
  std::set<int> ranksFilter;  // empty: every rank's output is shown
  bool prefixTimestamp = false;
  bool useMpirun = false;  // --mpi
  // --launcher: srun | ssh | local; empty: srun inside a Slurm allocation, else ssh
  // (srun_launch.h). runKolorun replaces it with the launcher the job uses.
  std::string launcher;
  int ntasksPerNode = 0;  // --ntasks-per-node: ranks per allocated node under srun; 0: Slurm's
  // Elastic (--min-np > 0): rank failures are survived while at least minNp ranks live, at
  // most resetLimit times (negative: no limit).
  int minNp = 0;
  int resetLimit = -1;
  int maxNp = 0;                    // elastic growth limit; 0: -np
  std::string hostDiscoveryScript;  // prints the current hosts ("host:slots" lines)
  int sshPort = 0;
  std::string sshIdentityFile;
};

// "0,2,5-7" -> {0,2,5,6,7}; an error names the bad element.
Expected<std::set<int>> parseRankList(std::string_view text);

// Either options to run, or a reason to stop now (--help, --version, a usage error) with the text
// to print and the exit code.
struct ParsedCommandLine {
  LaunchOptions options;
  bool exitNow = false;
  int exitCode = 0;
  std::string stdoutText;
  std::string stderrText;
  // --check-build: after stdoutText, print this machine's topology (check_build_topology.h).
  bool showTopology = false;
  // --status [--pid PID]: ask a running kolorun for its live verdict (job_status.h).
  bool askStatus = false;
  int statusPid = 0;
};

// Accepts mpirun's single-dash "-np N". --check-build and --help-env print their report and
// exit (no -np needed). Without -np, a -H / --hostfile job runs one rank per slot.
// Accepts mpirun's single-dash "-np N" as well as "--np N" / "-n N". The command starts after
// "--", or at the first argument that is not a kolorun option.
// `slurmAllocation`: kolorun runs inside a Slurm allocation, where -np defaults to its slots.
ParsedCommandLine parseCommandLine(int argc, const char* const* argv, bool slurmAllocation = false);

}  // namespace kolo::launcher
