// Command lines kolorun runs instead of the user's command: ssh for remote ranks, mpirun for
// --mpi. The builders are pure string functions, so the exact command lines are unit-tested;
// checkSshReachable is the one function here that runs anything.
//
// A remote rank's secret never appears on a command line (which `ps` on either host shows): the
// remote shell reads it from stdin, which kolorun feeds through the ssh pipe.
//
// Thread: the launcher's main thread.
#pragma once

#include <string>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/launcher/host_assignment.h"
#include "kolo/launcher/rank_environment.h"

namespace kolo::launcher {

struct SshOptions {
  int port = 0;              // 0: ssh's default
  std::string identityFile;  // empty: ssh's default keys
  double connectTimeoutSeconds = 10;
};

// POSIX shell quoting: bare when only safe characters, else single quotes.
std::string shellQuote(const std::string& word);
std::string joinCommand(const std::vector<std::string>& command);

// ssh [-p PORT] [-i FILE] -o BatchMode=yes -o ConnectTimeout=S -T HOST REMOTE_LINE.
// Host-key checking stays at the user's setting: kolorun never turns it off.
std::vector<std::string> buildSshCommand(const SshOptions& options, const std::string& host,
                                         const std::string& remoteLine);

// The line the remote shell runs: read KOLO_SECRET from stdin, cd to `workdir`, run the command
// under `env` with `vars` (the rank's contract and -x variables, KOLO_SECRET excluded), stop it
// when stdin reaches end-of-file, and exit with its status.
std::string buildRemoteLine(const Environment& vars, const std::vector<std::string>& command,
                            const std::string& workdir);

// What the ssh child's stdin receives: the secret line.
std::string remoteStdin(const std::string& secretHex);

// Runs `ssh HOST true` for every host at once; the error names each host that did not answer
// and ssh's last stderr line for it.
Status checkSshReachable(const std::vector<std::string>& hosts, const SshOptions& options);

// mpirun with the flags equivalent to kolorun's: -np, --host list, --bind-to, -x for every
// variable in `exported` (values reach mpirun through its own environment, so none is on the
// command line), --tag-output, then the command.
std::vector<std::string> buildMpirunCommand(const HostAssignment& assignment,
                                            const std::string& bindTo,
                                            const std::vector<std::string>& exported,
                                            const std::vector<std::string>& command);

}  // namespace kolo::launcher
