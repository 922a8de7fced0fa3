// One rank of the same-host sweep of reduce-scatter, allgather(v) and alltoall(v) with one
// algorithm forced (argv[1], default "shm"): started by kolorun with N ranks over the shm
// transport. Sizes cover 0, 1 element, counts that do not divide, the small-slot limit and its
// neighbours, and inputs of many pipelined chunks; every dtype and op for reduce-scatter (large
// counts: every dtype with sum, every op with float32 and int32), uneven and in-place blocks for
// allgatherv and alltoallv. Then ranks that disagree on sizes must all get kMismatch naming
// them, and the next collective must still work. Exit code 0 only if every case on this rank
// matched the reference bit for bit.
#include <cstdio>
#include <string>
#include <vector>

#include "kolo/base/env.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/world.h"
#include "kolo/rendezvous/store_factory.h"
#include "support/collective_reference.h"

namespace kolo {
namespace {

// Elements per rank's block: the arena's small slot holds 64 KiB, so 20000 float32 at 2+ ranks
// is past it; 300001 float64 blocks are several pipelined chunks at any world size.
constexpr size_t kElemCounts[] = {0, 1, 7, 1000, 20000, 300001};
// Bytes per rank's block (allgatherv) and per pair (alltoallv): around the 64 KiB slot and
// several chunks.
constexpr size_t kByteCounts[] = {0, 1, 13, 4096, 65535, 65536, 65537, 1200007};

class ShmSweep {
 public:
  ShmSweep(Communicator& comm, std::string algo) : comm_(comm), algo_(std::move(algo)) {}

  void record(const std::string& what, const Status& status, const std::string& mismatch) {
    if (status.isOk() && mismatch.empty()) {
      ++passed_;
      return;
    }
    ++failed_;
    std::printf("FAIL rank %d %s/%s: %s\n", comm_.rank(), what.c_str(), algo_.c_str(),
                status.isOk() ? mismatch.c_str() : status.toString().c_str());
  }

  void reduceScatter() {
    const int n = comm_.size();
    const int me = comm_.rank();
    for (size_t count : kElemCounts) {
      for (DataType type : kAllDataTypes) {
        for (ReduceOp op : kAllReduceOps) {
          const bool large = count >= 20000;
          if (large && op != ReduceOp::kSum && type != DataType::kFloat32 &&
              type != DataType::kInt32) {
            continue;
          }
          // Uneven blocks: rank r gets count + r elements, and every third rank none at all.
          std::vector<size_t> counts(n);
          size_t total = 0;
          for (int r = 0; r < n; ++r) total += counts[r] = r % 3 == 2 ? 0 : count + size_t(r);
          const uint64_t seed = 5 + count * 3 + static_cast<size_t>(type);
          auto input = test::makeInput(type, op, me, n, total, seed);
          std::vector<std::byte> out(counts[me] * dataTypeSize(type) + 1);
          std::vector<std::byte> expected(out.size());
          test::referenceReduceScatter(type, op, n, counts, me, seed, expected.data());
          Status s = coll::reduceScatter(comm_, input.data(), out.data(), counts, type, op, algo_);
          record(fmt::format("reducescatter count={} {} {}", count, dataTypeName(type),
                             reduceOpName(op)),
                 s,
                 s.isOk() ? test::compareExact(type, expected.data(), out.data(), counts[me]) : "");
        }
      }
    }
  }

  void allgatherv(bool inPlace) {
    const int n = comm_.size();
    const int me = comm_.rank();
    for (size_t bytes : kByteCounts) {
      std::vector<size_t> each(n);
      size_t total = 0;
      for (int r = 0; r < n; ++r) {
        // Uneven, none larger than rank 0's: 65536 is exactly the small slot.
        total += each[r] = bytes > 3 * size_t(r) ? bytes - 3 * size_t(r) : bytes;
      }
      std::vector<size_t> offset(n, 0);
      for (int r = 1; r < n; ++r) offset[r] = offset[r - 1] + each[r - 1];
      const uint64_t seed = 77 + bytes;
      std::vector<std::byte> send(each[me]), recv(total), expected(total);
      test::fillBytes(me, each[me], seed, send.data());
      test::referenceAllgatherv(each, seed, expected.data());
      const void* from = send.data();
      if (inPlace) {
        std::copy(send.begin(), send.end(), recv.begin() + static_cast<ptrdiff_t>(offset[me]));
        from = recv.data() + offset[me];
      }
      Status s = coll::allgatherv(comm_, from, recv.data(), each, algo_);
      record(fmt::format("allgatherv{} bytes={}", inPlace ? " in place" : "", bytes), s,
             s.isOk() ? test::compareBytes(expected.data(), recv.data(), total) : "");
    }
  }

  // Rank r sends base + r + 2p bytes to p (none to itself when base is 0 and r is odd).
  void alltoallv(bool inPlace) {
    const int n = comm_.size();
    const int me = comm_.rank();
    for (size_t base : kByteCounts) {
      std::vector<size_t> sendBytes(n), recvBytes(n);
      size_t sendTotal = 0, recvTotal = 0;
      for (int p = 0; p < n; ++p) {
        // In place needs the same layout both ways: equal blocks.
        const size_t out = inPlace ? base : base + size_t(me) + 2 * size_t(p);
        const size_t in = inPlace ? base : base + size_t(p) + 2 * size_t(me);
        sendTotal += sendBytes[p] = out;
        recvTotal += recvBytes[p] = in;
      }
      const uint64_t seed = 31 + base;
      std::vector<std::byte> send(sendTotal), recv(recvTotal), expected(recvTotal);
      test::fillAlltoallInput(me, sendBytes, seed, send.data());
      test::referenceAlltoallv(me, recvBytes, seed, expected.data());
      if (inPlace) recv = send;
      Status s = coll::alltoallv(comm_, inPlace ? recv.data() : send.data(), sendBytes, recv.data(),
                                 recvBytes, algo_);
      record(fmt::format("alltoallv{} base={}", inPlace ? " in place" : "", base), s,
             s.isOk() ? test::compareBytes(expected.data(), recv.data(), recvTotal) : "");
    }
  }

  // Every rank must fail with kMismatch whose message contains `needle`.
  void expectMismatch(const std::string& what, const Status& s, const std::string& needle) {
    const bool ok = s.code() == Code::kMismatch && s.message().find(needle) != std::string::npos;
    record(what, Status::ok(),
           ok ? "" : fmt::format("expected kMismatch naming '{}', got {}", needle, s.toString()));
  }

  void disagreements() {
    const int n = comm_.size();
    const int me = comm_.rank();
    if (n < 2) return;
    for (size_t count : {size_t{4}, size_t{100000}}) {  // the small round and the large path
      // Rank 1 gives rank 0 one element more than the others do.
      std::vector<size_t> counts(n, count);
      if (me == 1) counts[0] += 1;
      std::vector<float> in((count + 1) * n), out(count + 1);
      expectMismatch(fmt::format("reducescatter disagreeing counts={}", count),
                     coll::reduceScatter(comm_, in.data(), out.data(), counts, DataType::kFloat32,
                                         ReduceOp::kSum, algo_),
                     "rank 1 passed other counts");
      std::vector<size_t> bytes(n, count);
      if (me == n - 1) bytes[0] += 1;
      std::vector<std::byte> send(count + 1), recv((count + 1) * n);
      expectMismatch(fmt::format("allgatherv disagreeing bytes={}", count),
                     coll::allgatherv(comm_, send.data(), recv.data(), bytes, algo_),
                     fmt::format("rank {} passed other block sizes", n - 1));
      // Rank 0 sends count bytes to rank 1, which expects count + 5.
      std::vector<size_t> sendBytes(n, count), recvBytes(n, count);
      if (me == 1) recvBytes[0] += 5;
      std::vector<std::byte> a(count * n), b(count * n + 5);
      expectMismatch(
          fmt::format("alltoallv disagreeing base={}", count),
          coll::alltoallv(comm_, a.data(), sendBytes, b.data(), recvBytes, algo_),
          fmt::format("rank 0 sends {} B to rank 1, which expects {} B", count, count + 5));
    }
  }

  int failed() const { return failed_; }
  int passed() const { return passed_; }

 private:
  Communicator& comm_;
  std::string algo_;
  int passed_ = 0;
  int failed_ = 0;
};

int run(int argc, char** argv) {
  const std::string algo = argc > 1 ? argv[1] : "shm";
  auto spec = worldSpecFromEnv();
  auto url = getEnv("KOLO_STORE");
  if (!spec || !url) {
    std::fprintf(stderr, "run under kolorun: %s\n",
                 spec ? "KOLO_STORE is not set" : spec.status().toString().c_str());
    return 2;
  }
  auto store = openStore(*url);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.status().toString().c_str());
    return 2;
  }
  auto comm = connectWorld(**store, *spec);
  if (!comm) {
    std::fprintf(stderr, "%s\n", comm.status().toString().c_str());
    return 2;
  }
  Communicator& c = **comm;
  if (algo == "shm" && c.size() > 1 && c.arena() == nullptr) {
    std::printf("FAIL rank %d: no shm arena, so the shm algorithms cannot run\n", c.rank());
    return 1;
  }
  ShmSweep sweep(c, algo);
  sweep.reduceScatter();
  for (bool inPlace : {false, true}) {
    sweep.allgatherv(inPlace);
    sweep.alltoallv(inPlace);
  }
  if (algo == "shm") {
    sweep.disagreements();
    sweep.allgatherv(false);  // the arena still works after the disagreements
  }
  std::printf("rank %d of %d, %s over %s: %d passed, %d failed\n", c.rank(), c.size(), algo.c_str(),
              c.transport().name(), sweep.passed(), sweep.failed());
  return sweep.failed() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace kolo

int main(int argc, char** argv) {
  return kolo::run(argc, argv);
}
