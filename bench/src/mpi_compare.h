// Running kolo-bench under Open MPI's mpirun: MPI_Init, a private file store whose path rank 0
// broadcasts with MPI_Bcast (so Kolo bootstraps without kolorun), and Open MPI's own
// collective on the same buffers for --compare mpi. The MPI code is in mpi_compare.cc, built
// only with KOLO_WITH_MPI; mpi_unavailable.cc stands in otherwise.
// Thread: main thread (MPI is initialized with MPI_THREAD_SINGLE semantics).
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include "bench_ops.h"
#include "kolo/base/status.h"

namespace kolo::bench {

// Open MPI's launcher sets OMPI_COMM_WORLD_SIZE in every rank it starts.
inline bool startedByMpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr;
}
bool builtWithMpi();

// Whether Open MPI has this dtype and op: no f16/bf16 type, no average op.
bool mpiSupports(const MpiCall& call);

class MpiJob {
 public:
  // MPI_Init. kUnavailable when built without MPI.
  static Expected<std::unique_ptr<MpiJob>> start(int* argc, char*** argv);
  // Rank 0 removes the store directory (after a barrier), then MPI_Finalize.
  ~MpiJob();
  MpiJob(const MpiJob&) = delete;
  MpiJob& operator=(const MpiJob&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Rank 0 creates a private temporary directory and broadcasts its path; every rank
  // returns it. Also a job id every rank shares (derived from the directory name).
  Expected<std::string> shareStoreDirectory();
  const std::string& jobId() const { return jobId_; }

  // Open MPI's collective for `call`: MPI_Allreduce (MPI_IN_PLACE), MPI_Allgather,
  // MPI_Bcast, MPI_Reduce_scatter_block, MPI_Alltoall. Precondition: mpiSupports(call).
  Status run(const MpiCall& call);
  Status barrier();

 private:
  MpiJob(int rank, int size) : rank_(rank), size_(size) {}
  int rank_ = 0;
  int size_ = 1;
  std::string storeDirectory_;
  std::string jobId_;
};

}  // namespace kolo::bench
