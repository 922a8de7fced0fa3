#include "transport/mpi/mpi_env.h"

#include <sched.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "kolo/base/cpu_contention.h"
#include "kolo/base/logging.h"

namespace kolo {
namespace {

std::mutex gCallMutex;
bool gSerialize = false;

void finalizeAtExit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace

Status ensureMpiInitialized() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) {
      result = Status(Code::kInvalidUsage, "MPI was already finalised; Kolo cannot use it");
      return;
    }
    int initialized = 0;
    MPI_Initialized(&initialized);
    int provided = MPI_THREAD_SINGLE;
    if (initialized) {
      MPI_Query_thread(&provided);
    } else {
      result = mpiStatus(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided),
                         "MPI_Init_thread");
      if (!result.isOk()) return;
      std::atexit(finalizeAtExit);
    }
    gSerialize = provided < MPI_THREAD_MULTIPLE;
    if (gSerialize) {
      KOLO_LOG(kInfo, "mpi",
               "MPI gives thread level {} (< MPI_THREAD_MULTIPLE): Kolo serialises its MPI calls",
               provided);
    }
  });
  return result;
}

std::unique_lock<std::mutex> mpiCallLock() {
  if (gSerialize) return std::unique_lock<std::mutex>(gCallMutex);
  return std::unique_lock<std::mutex>();
}

Status mpiStatus(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return Status::ok();
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  return makeStatus(Code::kIoError, "{} failed: {}", what, text);
}

Status waitMpi(MPI_Request* request, Deadline deadline, const char* what, MPI_Status* status) {
  // A peer on another core answers within microseconds; past that, 20 us sleeps keep an
  // oversubscribed or contended rank from stealing the core its peer needs, at a cost of up to
  // 20 us latency.
  constexpr int kSpinRounds = 2000;
  constexpr int kContendedSpinRounds = 64;
  int yields = kSpinRounds;
  for (int round = 0;; ++round) {
    int done = 0;
    int rc;
    {
      auto lock = mpiCallLock();
      rc = MPI_Test(request, &done, status);
    }
    if (rc != MPI_SUCCESS) return mpiStatus(rc, what);
    if (done) return Status::ok();
    if (deadline.expired()) {
      return makeStatus(Code::kTimeout, "timed out waiting for {} to complete", what);
    }
    // A contended machine (kolo/base/cpu_contention.h): a yield would hand the core to a busy
    // process for a whole slice, so sleep after a few.
    if (round == 0) yields = CpuContention::spinRounds(kSpinRounds, kContendedSpinRounds);
    if (round < yields) {
      sched_yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
}

}  // namespace kolo
