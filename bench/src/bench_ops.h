// The per-collective part of kolo-bench: buffers sized for the largest size of the sweep and
// reused for every size (a fresh large buffer per size would time page faults), the
// deterministic input pattern whose exact result is known, the Kolo call, and the check.
//
// Inputs are small integers, so every dtype (bf16 included) represents inputs, partial
// results and the final result exactly, and results are compared bit for bit: a sum of n
// ranks stays below 4n, an average is built so that the sum is a multiple of n, a product
// multiplies only 1, -1 and a few 2s. Integer types wrap as the kernels do.
// Thread: the caller's (main) thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "bench_options.h"
#include "kolo/base/status.h"
#include "kolo/collectives/collectives.h"

namespace kolo::bench {

// What rank `rank` of `worldSize` contributes at `index` of a reducing collective.
int64_t reduceInput(ReduceOp op, int rank, int worldSize, size_t index);
// The exact result at `index`, written as one element of `type` into `out` (8 bytes room).
void expectedReduction(DataType type, ReduceOp op, int worldSize, size_t index, std::byte* out);
// Element `index` of `base` = value, converted as the kernels would store it: integers wrap
// to the type's width, floats round to nearest (exact for the small values used here).
void storeElement(DataType type, void* base, size_t index, int64_t value);

// Pattern values of the data-movement collectives (all below 128, exact in every dtype).
int64_t allgatherValue(int rank, size_t index);
int64_t alltoallValue(int source, int destination, size_t index);
int64_t broadcastValue(int root, size_t index);

// The buffers and arguments an MPI comparison call uses (see mpi_compare.h).
struct MpiCall {
  Collective collective = Collective::kAllreduce;
  DataType type = DataType::kFloat32;
  ReduceOp op = ReduceOp::kSum;
  int root = 0;
  size_t count = 0;  // elements of the full buffer (SizeShape::count)
  void* send = nullptr;
  void* recv = nullptr;  // allreduce: reduced in place here; broadcast: the buffer
};

struct OpConfig {
  Collective collective = Collective::kAllreduce;
  DataType type = DataType::kFloat32;
  ReduceOp op = ReduceOp::kSum;
  int root = 0;
  std::string algorithm{coll::kAutoAlgorithm};  // a registry name for the collective, or auto
  int rank = 0;
  int worldSize = 1;
  // In place, as nccl-tests defines it: allreduce, reducescatter and alltoall with send ==
  // recv; allgather with this rank's block already in the output (send == recv + rank's
  // offset). Broadcast has one buffer and is always in place.
  bool inPlace = false;
};

class CollectiveBench {
 public:
  // Allocates (and touches) the buffers for shapes up to maxBytes; kUnavailable naming the
  // size when memory runs out.
  static Expected<std::unique_ptr<CollectiveBench>> create(OpConfig config, uint64_t maxBytes);
  ~CollectiveBench();
  CollectiveBench(const CollectiveBench&) = delete;
  CollectiveBench& operator=(const CollectiveBench&) = delete;

  // Writes the input pattern and poisons the outputs, so a call that does nothing is caught.
  void prepare(const SizeShape& shape);
  // Poisons only the outputs (for --check between timed iterations; inputs are unchanged by
  // every out-of-place collective here, broadcast's root buffer included). In place, the
  // inputs are written again instead, since the previous call overwrote them.
  void poisonOutputs(const SizeShape& shape);
  // Data for repeated timed calls that reduce in place (allreduce, reducescatter): a fixed
  // point of the op (zeros for sum, avg and prod; the same values on every rank for min and
  // max), so it stays finite.
  void prepareFixedPoint(const SizeShape& shape);
  bool inPlace() const { return config_.inPlace || config_.collective == Collective::kBroadcast; }
  // Switches between the out-of-place and in-place forms; the buffers serve both.
  void setInPlace(bool inPlace) { config_.inPlace = inPlace; }
  Status run(Communicator& comm, const SizeShape& shape);
  // The allreduce's input and output buffers (the same buffer in place): the runtime path
  // submits them to the Engine as a named tensor instead of calling run().
  const void* allreduceInput() const;
  void* allreduceOutput() const;
  const OpConfig& config() const { return config_; }
  // Elements of this rank's output that differ from the exact result.
  uint64_t countWrong(const SizeShape& shape) const;

  // Fills the buffers for an MPI call of this collective and returns it (out of place, except
  // allreduce and broadcast). MPI allreduces in place, repeatedly, on the output buffer, so its
  // data is a fixed point of the op (zeros for sum and prod, equal values on every rank for min and
  // max): timed data stays finite.
  MpiCall prepareMpi(const SizeShape& shape);

 private:
  explicit CollectiveBench(OpConfig config);
  size_t blockCount(const SizeShape& shape) const;

  OpConfig config_;
  size_t elementSize_;
  struct Buffer;
  std::unique_ptr<Buffer> send_;
  std::unique_ptr<Buffer> recv_;
};

}  // namespace kolo::bench
