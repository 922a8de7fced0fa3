#include "kolo/launcher/check_build_topology.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string_view>
#include <vector>

namespace kolo::launcher {
namespace {

// Variables that would make kolo-bench join (or wait for) a job instead of running alone.
bool describesAJob(std::string_view entry) {
  for (std::string_view prefix : {"KOLO_", "OMPI_", "PMI_", "PMIX_", "SLURM_"}) {
    if (entry.starts_with(prefix)) return true;
  }
  return false;
}

}  // namespace

std::string selfExecutablePath() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : path.string();
}

std::string checkBuildTopology(const std::string& kolorunPath, const char* const* envp,
                               double timeoutSeconds) {
  namespace fs = std::filesystem;
  const fs::path bench = fs::path(kolorunPath).parent_path() / "kolo-bench";
  if (kolorunPath.empty() || ::access(bench.c_str(), X_OK) != 0) {
    return fmt::format(
        "topology: {} not found (it prints NUMA nodes, cores, caches, GPUs and "
        "NICs: kolo-bench --topology)\n",
        bench.string());
  }
  std::vector<std::string> env;
  for (const char* const* e = envp; e != nullptr && *e != nullptr; ++e) {
    if (!describesAJob(*e)) env.emplace_back(*e);
  }
  std::vector<char*> envPtrs;
  for (std::string& entry : env) envPtrs.push_back(entry.data());
  envPtrs.push_back(nullptr);
  std::string program = bench.string();
  std::string flag = "--topology";
  char* argv[] = {program.data(), flag.data(), nullptr};

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return "topology: cannot create a pipe\n";
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return "topology: fork failed\n";
  }
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    ::execve(argv[0], argv, envPtrs.data());
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeoutSeconds);
  bool timedOut = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timedOut = true;
      break;
    }
    pollfd pfd{out[0], POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    char buffer[4096];
    const ssize_t n = ::read(out[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(out[0]);
  if (timedOut) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timedOut) {
    return fmt::format("topology: {} --topology did not finish within {} s\n", program,
                       timeoutSeconds);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return fmt::format("topology: {} --topology failed:\n{}", program, text);
  }
  return "Topology of this machine (kolo-bench --topology):\n" + text;
}

}  // namespace kolo::launcher
