// One rank of the MPI backend check, started by mpirun with 2 or more ranks: MpiTransport
// point-to-point with forced chunking and tags beyond MPI's range, size mismatches and
// timeouts that name the peer, MPI's own collectives chunking their counts, the f16 fallback
// to Kolo's algorithms over MPI, and the MPI-backed store. Exit 0 only if every check passed.
#include <cstdio>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "kolo/collectives/collectives.h"
#include "kolo/collectives/communicator.h"
#include "kolo/collectives/native_collectives.h"
#include "kolo/collectives/reduce.h"
#include "transport/mpi/mpi_env.h"
#include "transport/mpi/mpi_kv_store.h"
#include "transport/mpi/mpi_transport.h"

namespace kolo {
namespace {

int gFailures = 0;
int gRank = -1;

void check(bool ok, const std::string& what) {
  if (ok) return;
  ++gFailures;
  std::printf("FAIL rank %d: %s\n", gRank, what.c_str());
  std::fflush(stdout);
}

void checkOk(const Status& s, const std::string& what) {
  check(s.isOk(), what + ": " + s.toString());
}

void checkError(const Status& s, Code code, const std::string& needle, const std::string& what) {
  check(!s.isOk() && s.code() == code && s.toString().find(needle) != std::string::npos,
        what + ": expected an error containing '" + needle + "', got " + s.toString());
}

std::byte patternByte(int rank, size_t i) {
  return static_cast<std::byte>((static_cast<size_t>(rank) * 131 + i * 7 + i / 251) & 0xff);
}

Status waitOne(Communicator& comm, TransferRequestPtr request, double seconds) {
  std::vector<TransferRequestPtr> requests;
  requests.push_back(std::move(request));
  return comm.waitAll(requests, Deadline::afterSeconds(seconds));
}

// Ring exchange of a 10007-byte message in 1000-byte MPI chunks under a tag far above
// MPI_TAG_UB; the receiver checks every byte.
void pointToPoint(Communicator& comm) {
  const int n = comm.size(), r = comm.rank();
  const int to = (r + 1) % n, from = (r - 1 + n) % n;
  for (uint64_t tag : {uint64_t{3}, (uint64_t{1} << 40) + 5}) {
    std::vector<std::byte> out(10007), in(10007);
    for (size_t i = 0; i < out.size(); ++i) out[i] = patternByte(r, i);
    std::vector<TransferRequestPtr> requests;
    requests.push_back(comm.peer(from).postRecv(tag, in));
    requests.push_back(comm.peer(to).postSend(tag, out));
    checkOk(comm.waitAll(requests, Deadline::afterSeconds(30)), "chunked ring exchange");
    size_t wrong = 0;
    for (size_t i = 0; i < in.size(); ++i) wrong += in[i] != patternByte(from, i);
    check(wrong == 0, std::to_string(wrong) + " bytes differ after the chunked exchange");
  }
  {  // empty messages still match
    std::vector<TransferRequestPtr> requests;
    requests.push_back(comm.peer(from).postRecv(7, {}));
    requests.push_back(comm.peer(to).postSend(7, {}));
    checkOk(comm.waitAll(requests, Deadline::afterSeconds(30)), "empty message");
  }
}

// Rank 0 sends 100 B and then 10 B to rank 1, which expects 64 B each time.
void sizeMismatch(Communicator& comm) {
  std::vector<std::byte> big(100), small(10), in(64);
  if (comm.rank() == 0) {
    checkOk(waitOne(comm, comm.peer(1).postSend(11, big), 30), "send of 100 B");
    checkOk(waitOne(comm, comm.peer(1).postSend(12, small), 30), "send of 10 B");
  } else if (comm.rank() == 1) {
    checkError(waitOne(comm, comm.peer(0).postRecv(11, in), 30), Code::kMismatch,
               "recv of 64 B from rank 0", "a larger message than posted");
    checkError(waitOne(comm, comm.peer(0).postRecv(12, in), 30), Code::kMismatch,
               "recv of 64 B from rank 0", "a smaller message than posted");
  }
}

// Rank 1 waits for a message rank 0 never sends: kTimeout names the silent peer.
void silentPeer(Communicator& comm) {
  if (comm.rank() != 1) return;
  std::vector<std::byte> in(8);
  checkError(waitOne(comm, comm.peer(0).postRecv(99, in), 0.3), Code::kTimeout,
             "recv of 8 B from rank 0", "a silent peer");
}

// Native collectives with 1000-element calls: allreduce of 2503 int32 sums and a 5001-byte
// broadcast, both chunked; f16 has no MPI type and runs Kolo's algorithm over MPI instead.
void nativeCollectives(Communicator& comm) {
  const int n = comm.size(), r = comm.rank();
  check(comm.transport().nativeCollectives() != nullptr, "MPI collectives are offered");
  std::vector<int32_t> values(2503);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<int32_t>(i) * (r + 1);
  checkOk(coll::allreduce(comm, values.data(), values.data(), values.size(), DataType::kInt32,
                          ReduceOp::kSum),
          "chunked MPI allreduce");
  const int32_t factor = n * (n + 1) / 2;
  size_t wrong = 0;
  for (size_t i = 0; i < values.size(); ++i) wrong += values[i] != static_cast<int32_t>(i) * factor;
  check(wrong == 0, std::to_string(wrong) + " elements wrong after the chunked MPI allreduce");

  std::vector<std::byte> buffer(5001);
  const int root = n - 1;
  for (size_t i = 0; i < buffer.size(); ++i)
    buffer[i] = r == root ? patternByte(root, i) : std::byte{0};
  checkOk(coll::broadcast(comm, buffer.data(), buffer.size(), root), "chunked MPI broadcast");
  wrong = 0;
  for (size_t i = 0; i < buffer.size(); ++i) wrong += buffer[i] != patternByte(root, i);
  check(wrong == 0, std::to_string(wrong) + " bytes wrong after the chunked MPI broadcast");

  std::vector<uint16_t> halves(3001, floatToHalf(static_cast<float>(r + 1)));
  checkOk(coll::allreduce(comm, halves.data(), halves.data(), halves.size(), DataType::kFloat16,
                          ReduceOp::kSum),
          "f16 allreduce over MPI point-to-point");
  wrong = 0;
  for (uint16_t h : halves) wrong += halfToFloat(h) != static_cast<float>(factor);
  check(wrong == 0, std::to_string(wrong) + " f16 elements wrong");
  checkOk(coll::barrier(comm), "MPI barrier");
}

void store(int rank, int size) {
  auto created = MpiKvStore::create(MPI_COMM_WORLD, 30);
  checkOk(created.status(), "creating the MPI store");
  if (!created.hasValue()) return;
  MpiKvStore& kv = *created.value();
  checkOk(kv.set("rank/" + std::to_string(rank), "value-" + std::to_string(rank * 10)), "set");
  auto counter = kv.add("arrived", 1);
  checkOk(counter.status(), "add");
  for (int p = 0; p < size; ++p) {
    auto value = kv.get("rank/" + std::to_string(p), Deadline::afterSeconds(30));
    check(value.hasValue() && value.value() == "value-" + std::to_string(p * 10),
          "get of rank " + std::to_string(p) +
              "'s key: " + (value.hasValue() ? value.value() : value.status().toString()));
  }
  auto missing = kv.get("never-set", Deadline::afterSeconds(0.05));
  checkError(missing.status(), Code::kTimeout, "never-set", "get of a missing key");
  // Every rank has added once before the final barrier-backed close, so a last add sees all.
  checkOk(kv.close(Deadline::afterSeconds(30)), "closing the MPI store");
  check(counter.hasValue() && counter.value() >= 1 && counter.value() <= size,
        "add returned " + (counter.hasValue() ? std::to_string(counter.value()) : "an error"));
}

int run() {
  Status init = ensureMpiInitialized();
  if (!init.isOk()) {
    std::fprintf(stderr, "%s\n", init.toString().c_str());
    return 2;
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  gRank = rank;
  if (size < 2) {
    std::fprintf(stderr, "run with mpirun -np 2 or more\n");
    return 2;
  }
  {
    auto transport = MpiTransport::create(MPI_COMM_WORLD, 1000, /*nativeCollectives=*/true);
    if (!transport.hasValue()) {
      std::fprintf(stderr, "%s\n", transport.status().toString().c_str());
      return 2;
    }
    Communicator comm(std::shared_ptr<Transport>(std::move(transport.value())), nullptr,
                      CommunicatorOptions{60.0});
    pointToPoint(comm);
    sizeMismatch(comm);
    silentPeer(comm);
    checkOk(coll::barrier(comm), "barrier after the error cases");
    nativeCollectives(comm);
  }
  store(rank, size);
  std::printf("rank %d of %d: %s\n", rank, size, gFailures == 0 ? "all checks passed" : "FAILED");
  return gFailures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace kolo

int main() {
  return kolo::run();
}
