// Multi-process failure test: forks N ranks that allreduce in a loop over a real transport;
// one victim dies (SIGKILL) or goes silent (SIGSTOP) mid-run. Every survivor must leave the
// collective with kIoError or kTimeout naming a rank, within its deadline, never hang, and at
// least one survivor must name the victim. The collective is allreduce unless named.
//
// usage: kolo_mp_peer_failure <shm|tcp> <kill|stop> <world size> <victim rank>
//        [allreduce|reducescatter|allgather|alltoall]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "kolo/collectives/collectives.h"
#include "kolo/collectives/world.h"
#include "kolo/rendezvous/file_store.h"

namespace kolo {
namespace {

constexpr int kVictimIteration = 5;
constexpr double kOpTimeoutSeconds = 3.0;
// Exit codes of a survivor.
constexpr int kNamedVictim = 0, kNamedOther = 10, kWrongError = 11, kNoError = 12, kSetup = 13;

// One iteration's collective over `data` (its float32 elements split into size() blocks).
Status runCollective(Communicator& comm, const std::string& collective, std::vector<float>& data) {
  const size_t block = data.size() / static_cast<size_t>(comm.size());
  std::vector<float> out(data.size());
  if (collective == "reducescatter") {
    std::vector<size_t> counts(static_cast<size_t>(comm.size()), block);
    return coll::reduceScatter(comm, data.data(), out.data(), counts, DataType::kFloat32,
                               ReduceOp::kMax);
  }
  if (collective == "allgather") {
    return coll::allgather(comm, data.data(), out.data(), block * sizeof(float));
  }
  if (collective == "alltoall") {
    return coll::alltoall(comm, data.data(), out.data(), block * sizeof(float));
  }
  return coll::allreduce(comm, data.data(), data.data(), data.size(), DataType::kFloat32,
                         ReduceOp::kMax);
}

int runRank(const std::string& dir, const std::string& transport, const std::string& action,
            int rank, int size, int victim, const std::string& collective) {
  auto store = FileStore::open(dir);
  if (!store) return kSetup;
  WorldSpec spec;
  spec.rank = rank;
  spec.size = size;
  spec.jobId = "peer-failure-" + std::to_string(getppid());
  spec.hostKey = "local";
  spec.transport = transport;
  spec.options.timeoutSeconds = kOpTimeoutSeconds;
  auto comm = connectWorld(*store.value(), spec);
  if (!comm) {
    std::fprintf(stderr, "rank %d: %s\n", rank, comm.status().toString().c_str());
    return kSetup;
  }
  std::vector<float> data(1 << 18, 1.0f);
  for (int i = 0; i < 200; ++i) {
    if (rank == victim && i == kVictimIteration) raise(action == "kill" ? SIGKILL : SIGSTOP);
    auto started = std::chrono::steady_clock::now();
    Status s = runCollective(*comm.value(), collective, data);
    if (s.isOk()) continue;
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("rank %d: iteration %d failed after %.2f s: %s\n", rank, i, waited,
                s.toString().c_str());
    std::fflush(stdout);
    if (s.code() != Code::kIoError && s.code() != Code::kTimeout) return kWrongError;
    if (s.message().find("rank " + std::to_string(victim)) != std::string::npos) {
      return kNamedVictim;
    }
    return s.message().find("rank ") != std::string::npos ? kNamedOther : kWrongError;
  }
  return kNoError;
}

int run(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr,
                 "usage: %s <shm|tcp> <kill|stop> <world size> <victim rank> [collective]\n",
                 argv[0]);
    return 2;
  }
  const std::string collective = argc == 6 ? argv[5] : "allreduce";
  const std::string transport = argv[1], action = argv[2];
  const int size = std::atoi(argv[3]), victim = std::atoi(argv[4]);
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("kolo-peer-failure-" + std::to_string(getpid())))
          .string();
  std::vector<pid_t> pids;
  for (int r = 0; r < size; ++r) {
    pid_t pid = fork();
    if (pid == 0) _exit(runRank(dir, transport, action, r, size, victim, collective));
    pids.push_back(pid);
  }
  // Survivors have kOpTimeoutSeconds per collective; allow generous slack for a loaded machine.
  const auto hardDeadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  std::vector<int> codes(size, -1);
  int remaining = size - 1;
  while (remaining > 0 && std::chrono::steady_clock::now() < hardDeadline) {
    for (int r = 0; r < size; ++r) {
      if (r == victim || codes[r] != -1) continue;
      int status = 0;
      if (waitpid(pids[r], &status, WNOHANG) == pids[r]) {
        codes[r] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        --remaining;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (pid_t pid : pids) kill(pid, SIGKILL);
  for (pid_t pid : pids) waitpid(pid, nullptr, 0);
  std::filesystem::remove_all(dir);

  bool ok = true, someoneNamedVictim = false;
  for (int r = 0; r < size; ++r) {
    if (r == victim) continue;
    if (codes[r] == -1) {
      std::printf("FAIL: rank %d still blocked 40 s after rank %d was stopped\n", r, victim);
      ok = false;
    } else if (codes[r] == kNamedVictim) {
      someoneNamedVictim = true;
    } else if (codes[r] != kNamedOther) {
      std::printf("FAIL: rank %d exited with code %d (expected an error naming a rank)\n", r,
                  codes[r]);
      ok = false;
    }
  }
  if (ok && !someoneNamedVictim) {
    std::printf("FAIL: no survivor named the victim rank %d\n", victim);
    ok = false;
  }
  std::printf("%s: %s %s %s victim %d of %d\n", ok ? "PASS" : "FAIL", collective.c_str(),
              transport.c_str(), action.c_str(), victim, size);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace kolo

int main(int argc, char** argv) { return kolo::run(argc, argv); }
