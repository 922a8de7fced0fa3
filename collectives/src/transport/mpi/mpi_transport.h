// MpiTransport: Kolo's Transport over MPI point-to-point on a private duplicate of a
// communicator. postSend/postRecv become MPI_Isend/MPI_Irecv of MPI_BYTE, split into chunks
// of at most maxCount bytes (MPI counts are int; nothing is truncated), with Kolo's 64-bit tags
// folded into MPI_TAG_UB (see mpiTagFor). TransferRequest::test() is MPI_Test.
// It also carries MpiCollectives, which kolo::coll uses for the operations MPI has natively.
// Thread: caller's (one collective at a time), like every Transport. Below
// MPI_THREAD_MULTIPLE each MPI call takes mpiCallLock().
#pragma once

#include <mpi.h>

#include <atomic>
#include <memory>
#include <vector>

#include "kolo/collectives/doorbell.h"
#include "kolo/collectives/transport.h"
#include "transport/mpi/mpi_collectives.h"

namespace kolo {

class MpiTransport final : public Transport {
 public:
  // Duplicates `parent` (so Kolo's messages never match the application's). `maxCount` bounds
  // one MPI call (tests lower it to exercise chunking). `nativeCollectives` selects whether
  // kolo::coll dispatches to MPI's collectives.
  static Expected<std::unique_ptr<MpiTransport>> create(MPI_Comm parent, size_t maxCount,
                                                        bool nativeCollectives);
  ~MpiTransport() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* name() const override { return "mpi"; }
  Channel& channel(int peer) override { return *channels_[peer]; }
  uint32_t activityEpoch() const override { return bell_.bell().epoch(); }
  // MPI has no fd or futex to park on: its progress happens only inside MPI calls. So a waiter
  // sleeps at most kParkSlice and tests again; requests completing in test() or wake() ring
  // the bell and end the sleep early.
  void waitForActivity(uint32_t seenEpoch, std::chrono::microseconds timeout) override;
  bool wake() override {
    bell_.bell().ring();
    return true;
  }
  NativeCollectives* nativeCollectives() override { return native_ ? collectives_.get() : nullptr; }

  MPI_Comm comm() const { return comm_; }
  size_t maxCount() const { return maxCount_; }
  int mpiTag(uint64_t tag) const;
  void noteActivity() { bell_.bell().ring(); }

  static constexpr std::chrono::microseconds kParkSlice{50};

 private:
  MpiTransport(MPI_Comm comm, int rank, int size, int tagUpperBound, size_t maxCount, bool native);

  MPI_Comm comm_;
  int rank_;
  int size_;
  int tagUpperBound_;
  size_t maxCount_;
  bool native_;
  mutable LocalDoorbell bell_;
  std::vector<std::unique_ptr<Channel>> channels_;
  std::unique_ptr<MpiCollectives> collectives_;
};

}  // namespace kolo
