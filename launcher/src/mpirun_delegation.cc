#include "kolo/launcher/mpirun_delegation.h"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include "kolo/launcher/kolorun_messages.h"
#include "kolo/launcher/remote_command.h"
#include "kolo/protocol/env_contract.h"

namespace kolo::launcher {
namespace {

std::vector<char*> nullTerminated(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (const std::string& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// mpirun starts with no signal blocked and SIGPIPE at its default, whatever kolorun blocks.
void resetSignals(posix_spawnattr_t& attr) {
  sigset_t none;
  sigset_t defaults;
  ::sigemptyset(&none);
  ::sigemptyset(&defaults);
  ::sigaddset(&defaults, SIGPIPE);
  ::posix_spawnattr_setsigmask(&attr, &none);
  ::posix_spawnattr_setsigdefault(&attr, &defaults);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

// posix_spawnp's error number, 0 on success.
int spawnMpirun(const std::vector<std::string>& argv, const Environment& env, pid_t& pid) {
  std::vector<std::string> envStrings = toEnvStrings(env);
  std::vector<char*> argvPtrs = nullTerminated(argv);
  std::vector<char*> envPtrs = nullTerminated(envStrings);
  posix_spawnattr_t attr;
  ::posix_spawnattr_init(&attr);
  resetSignals(attr);
  // Only stdin, stdout and stderr: mpirun and its ranks must not hold the store's sockets.
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  // The PATH search uses kolorun's PATH, which the delegated mpirun inherits anyway.
  int rc = ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, argvPtrs.data(), envPtrs.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  return rc;
}

// Forwards SIGINT/SIGTERM to mpirun until it exits; its exit code (128 + signal if killed).
int waitForMpirun(pid_t pid) {
  sigset_t waited;
  ::sigemptyset(&waited);
  for (int sig : {SIGCHLD, SIGINT, SIGTERM}) ::sigaddset(&waited, sig);
  while (true) {
    siginfo_t info{};
    int sig = ::sigwaitinfo(&waited, &info);
    if (sig == SIGINT || sig == SIGTERM) ::kill(pid, sig);
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    }
  }
}

int runDelegated(const std::vector<std::string>& argv, const Environment& env) {
  pid_t pid = -1;
  if (int rc = spawnMpirun(argv, env, pid); rc != 0) {
    printError(fmt::format("--mpi: cannot run {}: {}", argv[0], std::strerror(rc)));
    return kExitCannotExecute;
  }
  return waitForMpirun(pid);
}

}  // namespace

int runUnderMpirun(const LaunchOptions& options, const HostAssignment& assignment,
                   const JobInfo& job, const Environment& base) {
  if (options.timeoutSeconds > 0 || !options.outputDir.empty() || !options.ranksFilter.empty() ||
      options.prefixTimestamp) {
    printError(
        "warning: with --mpi, mpirun supervises the ranks and tags their output; --timeout, "
        "--output-filename, --ranks-filter and --prefix-timestamp are not applied");
  }
  std::vector<std::string> exported = {protocol::kEnvStore, protocol::kEnvSecret,
                                       protocol::kEnvJobId, protocol::kEnvStartTimeout};
  Environment env = base;
  for (const char* name : {protocol::kEnvStore, protocol::kEnvSecret, protocol::kEnvJobId,
                           protocol::kEnvStartTimeout}) {
    env[name] = contractEnvironment(assignment, 0, job)[name];
  }
  for (const EnvSetting& setting : options.env) {
    if (setting.value) env[setting.name] = *setting.value;
    if (env.count(setting.name) > 0) exported.push_back(setting.name);
  }
  return runDelegated(buildMpirunCommand(assignment, options.bindTo, exported, options.command),
                      env);
}

}  // namespace kolo::launcher
