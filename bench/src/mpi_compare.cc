// Built only with KOLO_WITH_MPI (see bench/CMakeLists.txt).
#include "mpi_compare.h"

#include <mpi.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace kolo::bench {
namespace {

// Longest store path rank 0 broadcasts; mkdtemp under TMPDIR stays far below it.
constexpr int kMaxPathBytes = 4096;

// MPI_SUCCESS -> ok; otherwise kIoError "<what> failed: <MPI's error string>". The bench calls
// MPI only from its main thread, so it needs none of the runtime's MPI serialisation.
Status mpiStatus(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return Status::ok();
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  return makeStatus(Code::kIoError, "{} failed: {}", what, text);
}

std::optional<MPI_Datatype> mpiType(DataType type) {
  switch (type) {
    case DataType::kFloat32:
      return MPI_FLOAT;
    case DataType::kFloat64:
      return MPI_DOUBLE;
    case DataType::kInt8:
      return MPI_INT8_T;
    case DataType::kUInt8:
      return MPI_UINT8_T;
    case DataType::kInt32:
      return MPI_INT32_T;
    case DataType::kInt64:
      return MPI_INT64_T;
    case DataType::kInt16:
      return MPI_INT16_T;
    case DataType::kFloat16:
    case DataType::kBFloat16:
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<MPI_Op> mpiOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return MPI_SUM;
    case ReduceOp::kMin:
      return MPI_MIN;
    case ReduceOp::kMax:
      return MPI_MAX;
    case ReduceOp::kProduct:
      return MPI_PROD;
    case ReduceOp::kAverage:
    case ReduceOp::kAdasum:
      return std::nullopt;
  }
  return std::nullopt;
}

// MPI counts are int; the benchmark's sizes stay far below 2^31 elements.
int asCount(size_t count) {
  return static_cast<int>(count);
}

}  // namespace

bool builtWithMpi() {
  return true;
}

bool mpiSupports(const MpiCall& call) {
  if (!mpiType(call.type)) return false;
  if (collectiveReduces(call.collective) && !mpiOp(call.op)) return false;
  return call.count <= static_cast<size_t>(INT32_MAX);
}

Expected<std::unique_ptr<MpiJob>> MpiJob::start(int* argc, char*** argv) {
  KOLO_RETURN_IF_ERROR(mpiStatus(MPI_Init(argc, argv), "MPI_Init"));
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return std::unique_ptr<MpiJob>(new MpiJob(rank, size));
}

MpiJob::~MpiJob() {
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank_ == 0 && !storeDirectory_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(storeDirectory_, ignored);
  }
  MPI_Finalize();
}

Expected<std::string> MpiJob::shareStoreDirectory() {
  std::vector<char> path(kMaxPathBytes, '\0');
  int failed = 0;
  if (rank_ == 0) {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string pattern = (base / "kolo-bench-XXXXXX").string();
    if (pattern.size() >= path.size() || mkdtemp(pattern.data()) == nullptr) {
      failed = errno == 0 ? EINVAL : errno;
    } else {
      std::memcpy(path.data(), pattern.data(), pattern.size());
    }
  }
  // Every rank learns the outcome first, so a failure on rank 0 ends the job everywhere.
  KOLO_RETURN_IF_ERROR(mpiStatus(MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast"));
  if (failed != 0) {
    return makeStatus(Code::kIoError, "rank 0 could not create a store directory in {}: {}",
                      std::filesystem::temp_directory_path().string(), std::strerror(failed));
  }
  KOLO_RETURN_IF_ERROR(
      mpiStatus(MPI_Bcast(path.data(), kMaxPathBytes, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast"));
  storeDirectory_ = path.data();
  jobId_ = std::filesystem::path(storeDirectory_).filename().string();
  return storeDirectory_;
}

Status MpiJob::run(const MpiCall& call) {
  MPI_Datatype type = *mpiType(call.type);
  const size_t block = call.count / static_cast<size_t>(size_);
  switch (call.collective) {
    case Collective::kAllreduce:
      return mpiStatus(MPI_Allreduce(MPI_IN_PLACE, call.recv, asCount(call.count), type,
                                     *mpiOp(call.op), MPI_COMM_WORLD),
                       "MPI_Allreduce");
    case Collective::kAllgather:
      return mpiStatus(MPI_Allgather(call.send, asCount(block), type, call.recv, asCount(block),
                                     type, MPI_COMM_WORLD),
                       "MPI_Allgather");
    case Collective::kBroadcast:
      return mpiStatus(MPI_Bcast(call.recv, asCount(call.count), type, call.root, MPI_COMM_WORLD),
                       "MPI_Bcast");
    case Collective::kReduceScatter:
      return mpiStatus(MPI_Reduce_scatter_block(call.send, call.recv, asCount(block), type,
                                                *mpiOp(call.op), MPI_COMM_WORLD),
                       "MPI_Reduce_scatter_block");
    case Collective::kAlltoall:
      return mpiStatus(MPI_Alltoall(call.send, asCount(block), type, call.recv, asCount(block),
                                    type, MPI_COMM_WORLD),
                       "MPI_Alltoall");
  }
  return makeStatus(Code::kInternal, "unknown collective");
}

Status MpiJob::barrier() {
  return mpiStatus(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

}  // namespace kolo::bench
