#include "kolo/launcher/rank_spawner.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "kolo/base/env.h"

namespace kolo::launcher {
namespace {

bool isExecutableFile(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

void closeIfOpen(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Everything below runs in the forked child of a (possibly multi-threaded) parent: only
// async-signal-safe calls until execve.
[[noreturn]] void execChild(pid_t parent, int outWrite, int errWrite, int nullFd, int reportFd,
                            const char* path, char* const* argv, char* const* envp,
                            const cpu_set_t* cpus) {
  ::setpgid(0, 0);
  if (cpus != nullptr) ::sched_setaffinity(0, sizeof(cpu_set_t), cpus);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // kolorun may have died between fork and prctl; then nobody would ever kill this rank.
  if (::getppid() != parent) ::_exit(127);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Ignored dispositions survive exec; kolorun ignores SIGPIPE but the rank must not.
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGCHLD, SIGQUIT, SIGHUP}) ::signal(sig, SIG_DFL);
  const int sources[3] = {nullFd, outWrite, errWrite};
  for (int target = 0; target < 3; ++target) {
    if (sources[target] == target) {
      ::fcntl(target, F_SETFD, 0);  // dup2 onto itself would keep FD_CLOEXEC
    } else if (::dup2(sources[target], target) < 0) {
      int error = errno;
      (void)!::write(reportFd, &error, sizeof(error));
      ::_exit(127);
    }
  }
  // Only stdin, stdout and stderr go to the rank. kolorun's other descriptors (the store's
  // listening and client sockets, made by Asio without FD_CLOEXEC) would otherwise live on in
  // every rank and its children: the store port would stay bound after kolorun died, and any of
  // them could accept connections meant for it. reportFd is FD_CLOEXEC already.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < 65536; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  ::execve(path, argv, envp);
  int error = errno;
  (void)!::write(reportFd, &error, sizeof(error));
  ::_exit(127);
}

}  // namespace

Expected<std::string> resolveExecutable(const std::string& command, const std::string& searchPath) {
  if (command.empty()) return Status(Code::kInvalidArgument, "no command given to run");
  if (command.find('/') != std::string::npos) {
    if (::access(command.c_str(), F_OK) != 0) {
      return makeStatus(Code::kInvalidArgument, "cannot execute '{}': {}", command,
                        std::strerror(errno));
    }
    if (!isExecutableFile(command)) {
      return makeStatus(Code::kInvalidArgument,
                        "cannot execute '{}': not an executable regular file", command);
    }
    return command;
  }
  for (const std::string& dir : splitString(searchPath, ':')) {
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + command;
    if (isExecutableFile(candidate)) return candidate;
  }
  return makeStatus(Code::kInvalidArgument, "cannot execute '{}': command not found in PATH={}",
                    command, searchPath);
}

Expected<RankProcess> spawnRank(int rank, const std::string& executable,
                                const std::vector<std::string>& argv,
                                const std::vector<std::string>& env,
                                const std::vector<int>& cpus, const std::string& stdinData) {
  // Build the C arrays before fork: the child may not allocate.
  std::vector<char*> argvPtrs;
  argvPtrs.reserve(argv.size() + 1);
  for (const std::string& arg : argv) argvPtrs.push_back(const_cast<char*>(arg.c_str()));
  argvPtrs.push_back(nullptr);
  std::vector<char*> envPtrs;
  envPtrs.reserve(env.size() + 1);
  for (const std::string& entry : env) envPtrs.push_back(const_cast<char*>(entry.c_str()));
  envPtrs.push_back(nullptr);

  int outPipe[2] = {-1, -1};
  int errPipe[2] = {-1, -1};
  int reportPipe[2] = {-1, -1};
  int inPipe[2] = {-1, -1};
  int nullFd = -1;
  if (stdinData.empty()) {
    nullFd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  } else if (::pipe2(inPipe, O_CLOEXEC) == 0) {
    // The data is a line or two: far below the pipe's capacity, so this write cannot block.
    if (::write(inPipe[1], stdinData.data(), stdinData.size()) ==
        static_cast<ssize_t>(stdinData.size())) {
      nullFd = inPipe[0];
      inPipe[0] = -1;
    } else {
      closeIfOpen(inPipe[1]);
    }
    closeIfOpen(inPipe[0]);
  }
  auto closeAll = [&] {
    for (int* fd : {&outPipe[0], &outPipe[1], &errPipe[0], &errPipe[1], &reportPipe[0],
                    &reportPipe[1], &nullFd, &inPipe[1]}) {
      closeIfOpen(*fd);
    }
  };
  if (nullFd < 0 || ::pipe2(outPipe, O_CLOEXEC) != 0 || ::pipe2(errPipe, O_CLOEXEC) != 0 ||
      ::pipe2(reportPipe, O_CLOEXEC) != 0) {
    int error = errno;
    closeAll();
    return makeStatus(Code::kIoError, "rank {}: cannot create pipes: {}", rank,
                      std::strerror(error));
  }

  cpu_set_t cpuSet;
  CPU_ZERO(&cpuSet);
  bool bind = false;
  for (int cpu : cpus) {
    if (cpu >= 0 && cpu < CPU_SETSIZE) {
      CPU_SET(cpu, &cpuSet);
      bind = true;
    }
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int error = errno;
    closeAll();
    return makeStatus(Code::kIoError, "rank {}: fork failed: {}", rank, std::strerror(error));
  }
  if (pid == 0) {
    execChild(parent, outPipe[1], errPipe[1], nullFd, reportPipe[1], executable.c_str(),
              argvPtrs.data(), envPtrs.data(), bind ? &cpuSet : nullptr);
  }
  // Also set the group here: whichever of parent and child runs first, the group exists before
  // kolorun might signal it.
  ::setpgid(pid, pid);
  closeIfOpen(outPipe[1]);
  closeIfOpen(errPipe[1]);
  closeIfOpen(reportPipe[1]);
  closeIfOpen(nullFd);

  int childErrno = 0;
  ssize_t got;
  do {
    got = ::read(reportPipe[0], &childErrno, sizeof(childErrno));
  } while (got < 0 && errno == EINTR);
  closeIfOpen(reportPipe[0]);
  if (got > 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    closeAll();
    return makeStatus(Code::kInvalidArgument, "rank {}: cannot execute '{}': {}", rank, executable,
                      std::strerror(childErrno));
  }

  for (int fd : {outPipe[0], errPipe[0]}) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  RankProcess process;
  process.rank = rank;
  process.pid = pid;
  process.stdoutFd = outPipe[0];
  process.stderrFd = errPipe[0];
  process.stdinFd = inPipe[1];
  return process;
}

}  // namespace kolo::launcher
