// Process-wide MPI state Kolo needs: initialising MPI once (MPI_THREAD_MULTIPLE when the library
// offers it), serialising calls when it does not, turning MPI error codes into Status, and
// waiting on an MPI request with a deadline.
// Thread: any. Kolo calls MPI from the caller's thread and, during bootstrap, from the store's
// service thread; below MPI_THREAD_MULTIPLE those calls take mpiCallLock() so they never overlap.
#pragma once

#include <mpi.h>

#include <mutex>

#include "kolo/base/deadline.h"
#include "kolo/base/status.h"

namespace kolo {

// Initialises MPI if nobody has (and finalises it at exit); a program that called MPI_Init
// itself keeps ownership. Fails if MPI was already finalised.
Status ensureMpiInitialized();

// Held around every MPI call when the library gave less than MPI_THREAD_MULTIPLE; an
// unlocked (no-op) lock otherwise.
std::unique_lock<std::mutex> mpiCallLock();

// MPI_SUCCESS -> ok; otherwise kIoError "<what> failed: <MPI's error string>".
Status mpiStatus(int rc, const char* what);

// Tests `request` until it completes or the deadline passes (kTimeout naming `what`). Spins
// briefly, then sleeps in short slices: MPI progresses only inside MPI calls and offers no fd
// or futex to park on. On timeout the request is left in flight (MPI cannot cancel
// collectives); the communicator is then unusable, as after any Kolo timeout.
Status waitMpi(MPI_Request* request, Deadline deadline, const char* what,
               MPI_Status* status = MPI_STATUS_IGNORE);

}  // namespace kolo
