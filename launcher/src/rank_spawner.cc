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

// Built before fork: the child may not allocate.
std::vector<char*> nullTerminated(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (const std::string& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// The child's stdin: /dev/null, or the read end of a pipe that already holds `stdinData`, whose
// write end goes to `writeEnd`. -1 (with errno set) when neither could be made.
int openChildStdin(const std::string& stdinData, int& writeEnd) {
  if (stdinData.empty()) return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int inPipe[2] = {-1, -1};
  if (::pipe2(inPipe, O_CLOEXEC) != 0) return -1;
  // The data is a line or two: far below the pipe's capacity, so this write cannot block.
  if (::write(inPipe[1], stdinData.data(), stdinData.size()) ==
      static_cast<ssize_t>(stdinData.size())) {
    writeEnd = inPipe[1];
    return inPipe[0];
  }
  closeIfOpen(inPipe[1]);
  closeIfOpen(inPipe[0]);
  return -1;
}

// The descriptors of one spawn: the rank's stdout and stderr pipes, the pipe on which the child
// reports a failed exec, and the rank's stdin.
struct SpawnPipes {
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  int report[2] = {-1, -1};
  int childStdin = -1;
  int stdinWrite = -1;  // RankProcess::stdinFd

  Status open(int rank, const std::string& stdinData) {
    childStdin = openChildStdin(stdinData, stdinWrite);
    if (childStdin < 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
        ::pipe2(report, O_CLOEXEC) != 0) {
      int error = errno;
      closeAll();
      return makeStatus(Code::kIoError, "rank {}: cannot create pipes: {}", rank,
                        std::strerror(error));
    }
    return Status::ok();
  }
  // After fork the parent keeps the read ends (and the write end of the rank's stdin).
  void closeChildEnds() {
    closeIfOpen(out[1]);
    closeIfOpen(err[1]);
    closeIfOpen(report[1]);
    closeIfOpen(childStdin);
  }
  void closeAll() {
    for (int* fd :
         {&out[0], &out[1], &err[0], &err[1], &report[0], &report[1], &childStdin, &stdinWrite}) {
      closeIfOpen(*fd);
    }
  }
};

// false (bind nothing) when no CPU of `cpus` fits a cpu_set_t.
bool toCpuSet(const std::vector<int>& cpus, cpu_set_t& cpuSet) {
  CPU_ZERO(&cpuSet);
  bool bind = false;
  for (int cpu : cpus) {
    if (cpu >= 0 && cpu < CPU_SETSIZE) {
      CPU_SET(cpu, &cpuSet);
      bind = true;
    }
  }
  return bind;
}

// The report pipe closes on a successful exec; an errno arriving on it means exec failed, and
// the child (which then exits 127) is reaped here. Closes `reportRead` either way.
Status confirmExec(int rank, pid_t pid, int& reportRead, const std::string& executable) {
  int childErrno = 0;
  ssize_t got;
  do {
    got = ::read(reportRead, &childErrno, sizeof(childErrno));
  } while (got < 0 && errno == EINTR);
  closeIfOpen(reportRead);
  if (got > 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return makeStatus(Code::kInvalidArgument, "rank {}: cannot execute '{}': {}", rank, executable,
                      std::strerror(childErrno));
  }
  return Status::ok();
}

RankProcess runningRank(int rank, pid_t pid, const SpawnPipes& pipes) {
  for (int fd : {pipes.out[0], pipes.err[0]}) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  RankProcess process;
  process.rank = rank;
  process.pid = pid;
  process.stdoutFd = pipes.out[0];
  process.stderrFd = pipes.err[0];
  process.stdinFd = pipes.stdinWrite;
  return process;
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
                                const std::vector<std::string>& env, const std::vector<int>& cpus,
                                const std::string& stdinData) {
  std::vector<char*> argvPtrs = nullTerminated(argv);
  std::vector<char*> envPtrs = nullTerminated(env);
  SpawnPipes pipes;
  KOLO_RETURN_IF_ERROR(pipes.open(rank, stdinData));
  cpu_set_t cpuSet;
  const bool bind = toCpuSet(cpus, cpuSet);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int error = errno;
    pipes.closeAll();
    return makeStatus(Code::kIoError, "rank {}: fork failed: {}", rank, std::strerror(error));
  }
  if (pid == 0) {
    execChild(parent, pipes.out[1], pipes.err[1], pipes.childStdin, pipes.report[1],
              executable.c_str(), argvPtrs.data(), envPtrs.data(), bind ? &cpuSet : nullptr);
  }
  // Also set the group here: whichever of parent and child runs first, the group exists before
  // kolorun might signal it.
  ::setpgid(pid, pid);
  pipes.closeChildEnds();
  if (Status exec = confirmExec(rank, pid, pipes.report[0], executable); !exec.isOk()) {
    pipes.closeAll();
    return exec;
  }
  return runningRank(rank, pid, pipes);
}

}  // namespace kolo::launcher
