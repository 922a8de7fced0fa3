// One rank of the multi-process collectives sweep: started by kolorun (or mpirun) with N ranks,
// it connects the world from the KOLO_* environment (KOLO_TRANSPORT picks shm or tcp; under
// mpirun KOLO_CPU_OPERATIONS=mpi|kolo picks MPI or Kolo's transports; under kolorun --local-hosts
// -H a:2,b:2 the world spans simulated hosts and also runs the hierarchical allreduce) and runs
// every collective over counts {0,1,7,1000,2^20+3} x dtypes x ops against the shared reference.
// Exit code 0 only if every case on this rank matched the reference bit for bit.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "kolo/base/env.h"
#include "kolo/base/slurm_step.h"
#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/world.h"
#include "kolo/rendezvous/scheduler_store.h"
#include "kolo/rendezvous/store_factory.h"
#include "support/collective_reference.h"

namespace kolo {
namespace {

constexpr size_t kCounts[] = {0, 1, 7, 1000, (size_t{1} << 20) + 3};
constexpr size_t kLargeCount = (size_t{1} << 20) + 3;

class Sweep {
 public:
  explicit Sweep(Communicator& comm) : comm_(comm) {}

  void record(const std::string& what, const Status& status, const std::string& mismatch) {
    if (status.isOk() && mismatch.empty()) {
      ++passed_;
      return;
    }
    ++failed_;
    std::printf("FAIL rank %d %s: %s\n", comm_.rank(), what.c_str(),
                status.isOk() ? mismatch.c_str() : status.toString().c_str());
  }

  // Large counts run every dtype with sum and every op with float32 and int32, which covers
  // every kernel at size without multiplying the run time by 40.
  static bool wanted(size_t count, DataType type, ReduceOp op) {
    if (count < kLargeCount) return true;
    return op == ReduceOp::kSum || type == DataType::kFloat32 || type == DataType::kInt32;
  }

  // Each case's reference and input are made once and checked against every algorithm: the
  // reference, not the collectives, is most of this sweep's time at 7 and 8 ranks.
  void allreduce(const std::vector<std::string>& algorithms) {
    const int n = comm_.size();
    std::vector<std::byte> input, buffer, expected;
    for (size_t count : kCounts) {
      for (DataType type : kAllDataTypes) {
        for (ReduceOp op : kAllReduceOps) {
          if (!wanted(count, type, op)) continue;
          const uint64_t seed =
              count * 131 + static_cast<uint64_t>(type) * 7 + static_cast<int>(op);
          const size_t bytes = count * dataTypeSize(type);
          input.resize(bytes);
          buffer.resize(bytes);
          expected.resize(bytes);
          test::fillInput(type, op, comm_.rank(), n, count, seed, input.data());
          test::referenceAllreduce(type, op, n, count, seed, expected.data());
          for (const std::string& algorithm : algorithms) {
            if (bytes != 0) std::memcpy(buffer.data(), input.data(), bytes);
            Status s =
                coll::allreduce(comm_, buffer.data(), buffer.data(), count, type, op, algorithm);
            record(fmt::format("allreduce/{} count={} {} {}", algorithm, count,
                               dataTypeName(type), reduceOpName(op)),
                   s,
                   s.isOk() ? test::compareExact(type, expected.data(), buffer.data(), count)
                            : "");
          }
        }
      }
    }
  }
  void reduceScatter() {
    const int n = comm_.size();
    for (size_t count : kCounts) {
      for (DataType type : {DataType::kFloat32, DataType::kBFloat16, DataType::kInt64}) {
        for (ReduceOp op : kAllReduceOps) {
          // Uneven blocks: rank r gets count + r elements.
          std::vector<size_t> counts(n);
          size_t total = 0;
          for (int r = 0; r < n; ++r) total += counts[r] = count + static_cast<size_t>(r);
          const uint64_t seed = 17 + count;
          auto input = test::makeInput(type, op, comm_.rank(), n, total, seed);
          std::vector<std::byte> out(counts[comm_.rank()] * dataTypeSize(type));
          std::vector<std::byte> expected(out.size());
          test::referenceReduceScatter(type, op, n, counts, comm_.rank(), seed, expected.data());
          Status s = coll::reduceScatter(comm_, input.data(), out.data(), counts, type, op);
          record(fmt::format("reducescatter count={} {} {}", count, dataTypeName(type),
                             reduceOpName(op)),
                 s,
                 s.isOk()
                     ? test::compareExact(type, expected.data(), out.data(), counts[comm_.rank()])
                     : "");
        }
      }
    }
  }

  void dataMovement() {
    const int n = comm_.size();
    const int me = comm_.rank();
    for (size_t count : kCounts) {
      const size_t bytes = count * 4;
      const uint64_t seed = 99 + count;
      {  // allgather
        std::vector<std::byte> send(bytes), recv(bytes * n), expected(bytes * n);
        test::fillBytes(me, bytes, seed, send.data());
        std::vector<size_t> each(n, bytes);
        test::referenceAllgatherv(each, seed, expected.data());
        Status s = coll::allgather(comm_, send.data(), recv.data(), bytes);
        record(fmt::format("allgather bytes={}", bytes), s,
               s.isOk() ? test::compareBytes(expected.data(), recv.data(), recv.size()) : "");
      }
      {  // allgatherv: rank r contributes bytes + 3r
        std::vector<size_t> each(n);
        size_t total = 0;
        for (int r = 0; r < n; ++r) total += each[r] = bytes + 3 * static_cast<size_t>(r);
        std::vector<std::byte> send(each[me]), recv(total), expected(total);
        test::fillBytes(me, each[me], seed, send.data());
        test::referenceAllgatherv(each, seed, expected.data());
        Status s = coll::allgatherv(comm_, send.data(), recv.data(), each);
        record(fmt::format("allgatherv bytes={}", bytes), s,
               s.isOk() ? test::compareBytes(expected.data(), recv.data(), total) : "");
      }
      for (int root = 0; root < n; ++root) {  // broadcast from every root
        std::vector<std::byte> buffer(bytes), expected(bytes);
        test::fillBytes(root, bytes, seed, expected.data());
        if (me == root) buffer = expected;
        Status s = coll::broadcast(comm_, buffer.data(), bytes, root);
        record(fmt::format("broadcast root={} bytes={}", root, bytes), s,
               s.isOk() ? test::compareBytes(expected.data(), buffer.data(), bytes) : "");
      }
      {  // alltoallv: rank r sends (bytes/4 + r + p) bytes to p
        std::vector<size_t> sendBytes(n), recvBytes(n);
        size_t sendTotal = 0, recvTotal = 0;
        for (int p = 0; p < n; ++p) {
          sendTotal += sendBytes[p] = bytes / 4 + static_cast<size_t>(me + p);
          recvTotal += recvBytes[p] = bytes / 4 + static_cast<size_t>(p + me);
        }
        std::vector<std::byte> send(sendTotal), recv(recvTotal), expected(recvTotal);
        test::fillAlltoallInput(me, sendBytes, seed, send.data());
        test::referenceAlltoallv(me, recvBytes, seed, expected.data());
        Status s = coll::alltoallv(comm_, send.data(), sendBytes, recv.data(), recvBytes);
        record(fmt::format("alltoallv bytes={}", bytes), s,
               s.isOk() ? test::compareBytes(expected.data(), recv.data(), recvTotal) : "");
      }
      {  // alltoall
        const size_t block = bytes / 4;
        std::vector<size_t> each(n, block);
        std::vector<std::byte> send(block * n), recv(block * n), expected(block * n);
        test::fillAlltoallInput(me, each, seed, send.data());
        test::referenceAlltoallv(me, each, seed, expected.data());
        Status s = coll::alltoall(comm_, send.data(), recv.data(), block);
        record(fmt::format("alltoall block={}", block), s,
               s.isOk() ? test::compareBytes(expected.data(), recv.data(), recv.size()) : "");
      }
    }
    for (int i = 0; i < 5; ++i) record("barrier", coll::barrier(comm_), "");
  }

  int failed() const { return failed_; }
  int passed() const { return passed_; }

 private:
  Communicator& comm_;
  int passed_ = 0;
  int failed_ = 0;
};

// The world as the launcher offers it: kolorun publishes a store; mpirun bootstraps from MPI
// (unless a PMIx launcher other than mpirun started us); srun with or without PMIx offers its
// own rendezvous (kolo/rendezvous/scheduler_store.h). `store` keeps the store alive.
Expected<std::unique_ptr<Communicator>> connect(WorldSpec& spec, std::unique_ptr<KvStore>& store,
                                                const char*& bootstrap) {
  if (auto url = getEnv("KOLO_STORE")) {
    bootstrap = "store";
    KOLO_ASSIGN_OR_RETURN(store, openStore(*url));
    return connectWorld(*store, spec);
  }
  if (launchedByMpi() && !pmixBootstrapApplies()) {
    bootstrap = "mpi";
    return connectWorldFromMpi(spec);
  }
  KOLO_ASSIGN_OR_RETURN(std::optional<SchedulerStore> scheduler,
                        openSchedulerStore(spec.secret, spec.connectTimeoutSeconds));
  if (!scheduler) {
    return Status(Code::kInvalidUsage, "KOLO_STORE is not set: run under kolorun, mpirun or srun");
  }
  bootstrap = scheduler->bootstrap;
  spec.jobId = scheduler->jobId;
  spec.secret = scheduler->secret;
  if (!scheduler->hostName.empty() && !getEnv("KOLO_HOSTNAME")) spec.hostKey = scheduler->hostName;
  store = std::move(scheduler->store);
  return connectWorld(*store, spec);
}

int run() {
  auto spec = worldSpecFromEnv();
  if (!spec) {
    std::fprintf(stderr, "%s\n", spec.status().toString().c_str());
    return 2;
  }
  std::unique_ptr<KvStore> store;  // outlives the communicator
  const char* bootstrap = "";
  Expected<std::unique_ptr<Communicator>> comm = connect(*spec, store, bootstrap);
  if (!comm) {
    std::fprintf(stderr, "%s\n", comm.status().toString().c_str());
    return 2;
  }
  // Started by srun (with or without PMIx): Kolo's layout is checked against Slurm's below.
  std::optional<SlurmStep> step;
  const std::string how = bootstrap;
  if (auto found = slurmStepFromEnv();
      found && found.value() && (how == "pmix" || how == "slurm")) {
    step = found.value();
  }
  Communicator& c = *comm.value();
  // Simulated multi-host runs name the host count they expect, so a world that silently came up
  // without its node/cross subgroups (and so never ran a hierarchical algorithm) fails.
  if (auto hosts = getEnv("KOLO_TEST_EXPECT_HOSTS")) {
    const HostLayout* layout = c.hostLayout();
    const int got =
        layout != nullptr && c.subgroup(Subgroup::kNode) != nullptr ? layout->numHosts : 1;
    if (std::to_string(got) != *hosts) {
      std::printf("FAIL rank %d: expected %s hosts with subgroups, got %d\n", c.rank(),
                  hosts->c_str(), got);
      return 1;
    }
  }
  // Under srun: Kolo's host layout must be Slurm's (node index, local rank, local size).
  if (step) {
    const HostLayout* layout = c.hostLayout();
    const int node = layout ? layout->hostIndex : 0;
    const int local = layout ? layout->localRank : c.rank();
    const int localSize = layout ? layout->localSize : c.size();
    std::printf("slurm rank %d of %d: node %d (%s) local %d of %d via %s\n", c.rank(), c.size(),
                node, step->nodeName.c_str(), local, localSize, bootstrap);
    if (c.rank() != step->rank || c.size() != step->size || node != step->nodeId ||
        local != step->localRank || localSize != step->localSize) {
      std::printf("FAIL rank %d: Slurm says rank %d of %d, node %d, local %d of %d\n", c.rank(),
                  step->rank, step->size, step->nodeId, step->localRank, step->localSize);
      return 1;
    }
  }
  Sweep sweep(c);
  // The selector's pick, then every registered allreduce algorithm that can run on this world
  // (shm with an arena, hier with subgroups), so a new registry entry is swept here without
  // editing this test.
  std::vector<std::string> algorithms{std::string(coll::kAutoAlgorithm)};
  for (const coll::AlgorithmEntry& entry : coll::algorithmsFor(coll::CollectiveKind::kAllreduce)) {
    if (coll::canRun(entry, coll::selectionContext(c, 0))) algorithms.emplace_back(entry.name);
  }
  sweep.allreduce(algorithms);
  sweep.reduceScatter();
  sweep.dataMovement();
  std::printf("rank %d of %d over %s: %d passed, %d failed\n", c.rank(), c.size(),
              c.transport().name(), sweep.passed(), sweep.failed());
  return sweep.failed() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace kolo

int main() {
  return kolo::run();
}
