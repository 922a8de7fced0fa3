// ShmDirectArena: the ShmArena implementation. Every collective of ShmArena runs on flag
// words and slots in the world's segment, with no point-to-point messages.
//
// Small allreduce (<= smallBytes): each rank copies its input into its slot of parity set
// (op & 1) and publishes the op's sequence number; every rank reduces all n slots in rank order
// 0..n-1, so every rank computes the same bits. A rank that writes op k+2 has seen every rank
// arrive at op k+1, so all of them finished reading op k: no "done" round trip is needed.
// Cost: one copy in, n-1 cache-line transfers for the flags, one n-way reduction.
//
// Large allreduce: chunks of C bytes pipelined through K staging slots per rank. For chunk c a
// rank stages the parts of its input its peers reduce, then reduces its own sub-range (1/n of
// the chunk) from every rank's staging slot in rank order into the shared result slot (and its
// own output), and finally copies the other sub-ranges from the result slot to its output.
// Every rank reduces at once. The three steps are not run in lock step: a rank runs whichever
// step its peers' flags allow (stage ahead, reduce, copy out), so it stages chunk c+1 while its
// peers still reduce chunk c and a rank that was descheduled for a moment is absorbed by up to
// K-1 chunks of slack. A slot is reused for chunk c+K once every rank finished reading chunk c
// out (the `copied` flags). Per rank and byte: (n-1)/n staged, 1/n reduced from n inputs and
// copied twice, (n-1)/n copied out; chunks stay cache-resident, so the caller's buffers are
// read and written from DRAM once.
//
// Reduce-scatter, allgather(v) and alltoall(v) (shm_direct_collectives.cc) begin with one
// round on the small slots that carries every rank's fingerprint of its arguments (alltoallv:
// its send and receive sizes), so ranks that disagree fail alike in that round, and the data
// itself when it fits: then that one round is the whole collective. Larger ones run on the
// same pipeline as the large allreduce (runPipeline): a rank stages the pieces its peers need,
// each rank reads its own pieces from every rank's staging slot at once (reduce-scatter
// reduces them in rank order with the allreduce's kernels), and the `copied` flags free slots.
//
// Segmented allreduce (shm_segmented_allreduce.cc): the same two paths over several buffers
// taken as one, each step reading and writing the pieces of the segments its range covers.
//
// Small broadcast (<= smallBytes): the root copies the data into its next broadcast cell
// (kBroadcastCells per rank, in rotation) and publishes the broadcast's number there; the others
// copy it out and count it read (`broadcastsRead`). No rank waits for all: before the root
// writes a cell again it waits until every rank read the broadcast that last used it, so it
// runs at most kBroadcastCells - 1 broadcasts ahead of its slowest reader.
// Large broadcast: the root copies chunks into the result slots; the others copy them out.
// Barrier: a sequence counter per rank.
//
// Chunk and op counters are kept locally and identically on every rank (every rank runs the same
// collectives in the same order), so flags are monotonic and never reset.
// Thread: the caller's, one collective at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kolo/collectives/shm_arena.h"
#include "transport/shm/flag_waiter.h"
#include "transport/shm/shm_copy.h"
#include "transport/shm/shm_segment.h"

namespace kolo::shm {

class ShmDirectArena final : public ShmArena {
 public:
  // `streamingMinBytes`: outputs from this size are written with streaming stores (beyond the
  // last-level cache; shm_copy.h).
  ShmDirectArena(std::shared_ptr<ShmSegment> segment, int rank, int size,
                 size_t streamingMinBytes = kStreamingBytes);

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status allreduce(const void* send, void* recv, size_t count, DataType type, ReduceOp op,
                   Deadline deadline) override;
  Status allreduceSegments(std::span<const Segment> segments, DataType type, ReduceOp op,
                           Deadline deadline) override;
  Status broadcast(void* buffer, size_t bytes, int root, Deadline deadline) override;
  Status barrier(Deadline deadline) override;
  Status reduceScatter(const void* send, void* recv, std::span<const size_t> counts, DataType type,
                       ReduceOp op, Deadline deadline) override;
  Status allgatherv(const void* send, void* recv, std::span<const size_t> bytes,
                    Deadline deadline) override;
  Status alltoallv(const void* send, std::span<const size_t> sendBytes, void* recv,
                   std::span<const size_t> recvBytes, Deadline deadline) override;
  std::string describe() const override;
  void watchAbort(std::shared_ptr<const AbortToken> token) override {
    waiter_.watchAbort(std::move(token));
  }

 private:
  struct Chunk {
    uint64_t global;  // position in the arena-wide chunk sequence
    size_t slot;
    size_t firstElem;
    size_t elems;
  };
  // One pipelined collective's work on a chunk; runPipeline decides when each step runs and
  // publishes the flags: `staged` after stage, `reduced` after reduce (then afterReduce runs),
  // `copied` after copyOut, which frees the slot. A step sees chunk i as firstElem = i, elems = 1
  // unless the collective cuts its elements into chunks (allreduce).
  class ChunkSteps {
   public:
    virtual ~ChunkSteps() = default;
    virtual void stage(const Chunk& c) = 0;    // this rank's data into its staging slot
    virtual void reduce(const Chunk& c) = 0;   // reads every rank's staged chunk
    virtual void afterReduce(const Chunk&) {}  // once peers may read what reduce published
    virtual void copyOut(const Chunk&) {}      // reads the result slot
    // What a peer that has not published `reduced` failed to do, for errors.
    virtual const char* reduceVerb() const { return "reduce its sub-range"; }
    // False when nothing is read from the shared slots after reduce (no copyOut): the driver
    // then publishes `copied` with `reduced`, so no rank waits for its peers at the end.
    virtual bool readsResults() const { return true; }
  };
  struct SegmentedAllreduceSteps;
  struct ReduceScatterSteps;
  struct AllgatherSteps;
  struct AlltoallSteps;
  // Runs `numChunks` chunks of `chunkElems` elements out of `count` through the staging slots.
  Status runPipeline(size_t numChunks, size_t chunkElems, size_t count, ChunkSteps& steps,
                     const char* op, Deadline deadline);

  // One round on the small slots: the caller has written its data into smallData(rank_,
  // smallParity(next)) (next = smallOps_ + 1); this publishes `fingerprint` and the sequence and
  // waits for every rank. Returns the round's parity.
  Expected<int> smallRound(uint64_t fingerprint, const char* op, Deadline deadline);
  // This rank's small slot for the next small round.
  std::byte* nextSmallSlot() const { return smallData(rank_, smallParity(smallOps_ + 1)); }
  Status smallBroadcast(std::byte* buffer, size_t bytes, int root, Deadline deadline);
  static int smallParity(uint64_t seq) { return static_cast<int>(seq & 1); }
  uint64_t smallFingerprint(int rank, int parity) const {
    return reinterpret_cast<const SmallSlotHeader*>(
               segment_->base() + segment_->layout().smallSlotOffset(rank, parity))
        ->fingerprint;
  }
  // kMismatch naming the first rank whose fingerprint differs from rank 0's (every rank reads
  // the same words, so every rank returns the same error), or ok.
  Status checkFingerprints(int parity, const char* op, const char* what) const;
  Status alltoallSizesAgree(int parity) const;
  Status largeReduceScatter(const void* send, void* recv, std::span<const size_t> counts,
                            DataType type, ReduceOp op, Deadline deadline);

  Status smallAllreduce(const void* send, void* recv, size_t count, DataType type, ReduceOp op,
                        Deadline deadline);

  struct Pipeline;
  // A slot may take chunk g once every rank copied chunk g - depth out of it.
  bool slotFreeGlobal(uint64_t global) const {
    return global < depth_ || waiter_.allReached(copied_, global + 1 - depth_);
  }
  bool slotFree(const Chunk& c) const { return slotFreeGlobal(c.global); }
  Status waitSlotFree(const Chunk& c, const char* op, int64_t index, Deadline deadline);
  // [begin, end) of rank q's sub-range of a chunk of `elems` elements, in elements; sub-range
  // borders fall on cache lines so two reducers never write one line.
  size_t partBegin(size_t elems, size_t esize, int q) const;
  // After a timeout or a dead peer the flags of the world disagree: later calls fail at once.
  Status fail(Status status);
  // OK, or why no collective may run: the arena broke earlier, or this rank fired the
  // drop_conn fault (it must fail as its transport's waits do, not carry on through the arena).
  Status usable() const;

  std::byte* smallData(int rank, int parity) const {
    return segment_->base() + segment_->layout().smallSlotOffset(rank, parity) +
           kSmallSlotDataOffset;
  }
  std::byte* staging(int rank, size_t slot) const {
    return segment_->base() + segment_->layout().stagingOffset(rank, slot);
  }
  std::byte* result(size_t slot) const {
    return segment_->base() + segment_->layout().resultOffset(slot);
  }
  FlagArray controlFlag(PaddedCounter RankControl::*member) const;

  std::shared_ptr<ShmSegment> segment_;
  int rank_;
  int size_;
  size_t smallBytes_;
  size_t chunkBytes_;
  size_t depth_;
  size_t streamingMinBytes_;
  FlagWaiter waiter_;
  FlagArray smallSeq_[2];
  FlagArray staged_, reduced_, copied_, barrier_, broadcastsRead_;
  RankControl& mine_;
  uint64_t smallOps_ = 0;
  uint64_t broadcasts_ = 0;  // small broadcasts so far
  // As root: every rank had read at least this many small broadcasts when last looked at
  // (their counters are read only when a cell to reuse may still be unread).
  uint64_t broadcastsReadSeen_ = 0;
  uint64_t chunks_ = 0;
  uint64_t barriers_ = 0;
  bool streamOutput_ = false;        // this op writes its output with streaming stores
  std::vector<const void*> inputs_;  // every rank's input of the sub-range being reduced
  std::vector<size_t> offsets_[2];   // block offsets of the collective being run
  std::vector<size_t> segmentStarts_;  // allreduceSegments: each segment's first element
  Status broken_;
};

}  // namespace kolo::shm
