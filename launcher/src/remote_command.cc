#include "kolo/launcher/remote_command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>

#include "kolo/base/deadline.h"
#include "kolo/protocol/env_contract.h"

extern char** environ;

namespace kolo::launcher {

std::string shellQuote(const std::string& word) {
  if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789_-./=:,+@%") == std::string::npos) {
    return word;
  }
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  return quoted + "'";
}

std::string joinCommand(const std::vector<std::string>& command) {
  std::string line;
  for (const std::string& word : command) {
    if (!line.empty()) line.push_back(' ');
    line += shellQuote(word);
  }
  return line;
}

std::vector<std::string> buildSshCommand(const SshOptions& options, const std::string& host,
                                         const std::string& remoteLine) {
  std::vector<std::string> argv = {"ssh"};
  if (options.port > 0) {
    argv.push_back("-p");
    argv.push_back(std::to_string(options.port));
  }
  if (!options.identityFile.empty()) {
    argv.push_back("-i");
    argv.push_back(options.identityFile);
  }
  argv.insert(argv.end(),
              {"-o", "BatchMode=yes", "-o",
               fmt::format("ConnectTimeout={}",
                           std::max(1, static_cast<int>(options.connectTimeoutSeconds))),
               "-T", host, remoteLine});
  return argv;
}

std::string buildRemoteLine(const Environment& vars, const std::vector<std::string>& command,
                            const std::string& workdir) {
  // After the secret, stdin stays open as a lifeline: a watcher waits for its end-of-file (ssh
  // or kolorun gone) and then sends the rank SIGTERM, so a remote rank never outlives its job.
  // Without a tty, sshd would not signal the remote command when the connection drops.
  std::string line =
      fmt::format("IFS= read -r {0} && export {0} && cd {1} || exit 127; exec 3<&0; env",
                  protocol::kEnvSecret, shellQuote(workdir));
  for (const auto& [name, value] : vars) {
    if (name == protocol::kEnvSecret) continue;
    line += " " + shellQuote(name + "=" + value);
  }
  line += " " + joinCommand(command);
  line +=
      " </dev/null 3<&- & pid=$!; { cat <&3 >/dev/null 2>&1; kill -TERM $pid 2>/dev/null; } "
      ">/dev/null 2>&1 & watcher=$!; exec 3<&-; wait $pid; rc=$?; kill $watcher 2>/dev/null; "
      "exit $rc";
  return line;
}

std::string remoteStdin(const std::string& secretHex) {
  return secretHex + "\n";
}

Status checkSshReachable(const std::vector<std::string>& hosts, const SshOptions& options) {
  struct Probe {
    std::string host;
    pid_t pid = -1;
    int errFd = -1;
    std::string err;
  };
  std::vector<Probe> probes;
  for (const std::string& host : hosts) {
    Probe probe{host};
    std::vector<std::string> argv = buildSshCommand(options, host, "true");
    std::vector<char*> ptrs;
    for (std::string& a : argv) ptrs.push_back(a.data());
    ptrs.push_back(nullptr);
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0) {
      return makeStatus(Code::kIoError, "pipe: {}", std::strerror(errno));
    }
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    ::posix_spawn_file_actions_adddup2(&actions, pipeFds[1], 2);
    int rc = ::posix_spawnp(&probe.pid, "ssh", &actions, nullptr, ptrs.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(pipeFds[1]);
    if (rc != 0) {
      ::close(pipeFds[0]);
      return makeStatus(Code::kUnavailable, "cannot run ssh to reach host '{}': {}", host,
                        std::strerror(rc));
    }
    probe.errFd = pipeFds[0];
    probes.push_back(std::move(probe));
  }
  // ssh's own ConnectTimeout bounds each probe; this deadline only guards against a hung ssh.
  Deadline deadline = Deadline::afterSeconds(options.connectTimeoutSeconds + 20);
  std::string failures;
  int failed = 0;
  for (Probe& probe : probes) {
    char buffer[4096];
    while (true) {
      pollfd p{probe.errFd, POLLIN, 0};
      int ms = static_cast<int>(
          std::chrono::ceil<std::chrono::milliseconds>(deadline.remaining()).count());
      if (::poll(&p, 1, ms) <= 0) break;
      ssize_t n = ::read(probe.errFd, buffer, sizeof(buffer));
      if (n <= 0) break;
      probe.err.append(buffer, static_cast<size_t>(n));
    }
    ::close(probe.errFd);
    // stderr reaches end-of-file a moment before ssh exits: wait for the exit up to the deadline.
    int status = 0;
    pid_t got = 0;
    while ((got = ::waitpid(probe.pid, &status, WNOHANG)) == 0 && !deadline.expired()) {
      ::usleep(5000);
    }
    if (got == 0) {
      ::kill(probe.pid, SIGKILL);
      ::waitpid(probe.pid, &status, 0);
      probe.err += "\nssh did not finish in time";
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
    while (!probe.err.empty() && (probe.err.back() == '\n' || probe.err.back() == '\r')) {
      probe.err.pop_back();
    }
    std::string last = probe.err.substr(
        probe.err.rfind('\n') == std::string::npos ? 0 : probe.err.rfind('\n') + 1);
    ++failed;
    failures += fmt::format("\n  {}: {}", probe.host, last.empty() ? "ssh failed" : last);
  }
  if (failed == 0) return Status::ok();
  return makeStatus(Code::kUnavailable, "{} host(s) cannot be reached with ssh:{}", failed,
                    failures);
}

std::vector<std::string> buildMpirunCommand(const HostAssignment& assignment,
                                            const std::string& bindTo,
                                            const std::vector<std::string>& exported,
                                            const std::vector<std::string>& command) {
  std::vector<std::string> argv = {"mpirun", "-np", std::to_string(assignment.worldSize())};
  std::string hostList;
  for (size_t h = 0; h < assignment.hosts().size(); ++h) {
    const HostSlots& host = assignment.hosts()[h];
    if (!hostList.empty()) hostList += ",";
    hostList += fmt::format("{}:{}", host.name, assignment.localSize(static_cast<int>(h)));
  }
  argv.insert(argv.end(), {"--host", hostList, "--bind-to", bindTo, "--tag-output"});
  for (const std::string& name : exported) {
    argv.push_back("-x");
    argv.push_back(name);
  }
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

}  // namespace kolo::launcher
