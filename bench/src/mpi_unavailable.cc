// Stands in for mpi_compare.cc when Kolo is built without MPI (KOLO_WITH_MPI=OFF).
#include "mpi_compare.h"

namespace kolo::bench {
namespace {

Status unavailable() {
  return makeStatus(Code::kUnavailable,
                    "kolo-bench was built without MPI (KOLO_WITH_MPI=OFF); rebuild with MPI to "
                    "run under mpirun or use --compare mpi");
}

}  // namespace

bool builtWithMpi() {
  return false;
}
bool mpiSupports(const MpiCall&) {
  return false;
}

Expected<std::unique_ptr<MpiJob>> MpiJob::start(int*, char***) {
  return unavailable();
}
MpiJob::~MpiJob() = default;
Expected<std::string> MpiJob::shareStoreDirectory() {
  return unavailable();
}
Status MpiJob::run(const MpiCall&) {
  return unavailable();
}
Status MpiJob::barrier() {
  return unavailable();
}

}  // namespace kolo::bench
