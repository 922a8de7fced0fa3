// Kolo's C++ API: a Session (one per process and job, or several in sequence) on which any
// thread submits named tensors; each submission returns a Handle at once. Errors are
// Status / Expected<T> (valueOrThrow() turns them into kolo::StatusError at the caller's
// choice); nothing here throws on its own.
//
//   auto session = kolo::Session::init().valueOrThrow();
//   kolo::Tensor t{grad.data(), grad.data(), kolo::DataType::kFloat32, {1024}};
//   auto h = session.allreduce("layer1.grad", t, {.reduceOp = kolo::ReduceOp::kAverage});
//   kolo::throwIfError(h.valueOrThrow().wait());
//
// Or, over any contiguous buffer (std::vector, std::array, a framework tensor's data):
//   auto h = session.allreduce("layer1.grad", kolo::tensorView(std::span(grad)), opts);
//
// Thread: every method may be called from any thread; handles complete on Kolo's coordinator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

// Only self-contained vocabulary headers (standard library alone; tests/lint checks it): a
// program that includes kolo.hpp needs neither fmt nor any of Kolo's internal headers.
#include "kolo/base/status_types.h"
#include "kolo/collectives/dtype.h"
#include "kolo/core/tensor.h"  // Tensor, OpOptions: the types the Engine itself takes

namespace kolo {

// Unset fields keep what the KOLO_* environment (or the built-in default) says.
struct SessionConfig {
  std::optional<uint64_t> fusionThresholdBytes;
  std::optional<size_t> cacheCapacity;
  std::optional<double> stallWarningSeconds;
  std::optional<double> stallShutdownSeconds;
  std::optional<std::string> timelinePath;
};

// What this build of Kolo provides (compile-time facts; no device or session needed).
struct BuildInfo {
  bool mpi = false;     // Open MPI backend and mpirun bootstrap (KOLO_WITH_MPI)
  bool cuda = false;    // CUDA tensors served by the runtime (KOLO_WITH_CUDA)
  bool nccl = false;    // the NCCL backend for them (KOLO_WITH_NCCL)
  int ncclVersion = 0;  // e.g. 22803; 0 without NCCL
};
BuildInfo buildInfo();

// Where a language runtime should write every thread's stack when this process gets SIGUSR1
// (Python: faulthandler.register(SIGUSR1, file, all_threads=True, chain=True)), so the flight
// recorder's dump, and kolorun's live verdict, show them; "" when Kolo does not own SIGUSR1
// here or no session is open.
std::string stackDumpPath();

// The DataType of a C++ element type; a type Kolo does not carry does not compile.
template <typename T>
constexpr DataType dataTypeOf() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, float>)
    return DataType::kFloat32;
  else if constexpr (std::is_same_v<U, double>)
    return DataType::kFloat64;
  else if constexpr (std::is_same_v<U, int8_t>)
    return DataType::kInt8;
  else if constexpr (std::is_same_v<U, uint8_t>)
    return DataType::kUInt8;
  else if constexpr (std::is_same_v<U, int16_t>)
    return DataType::kInt16;
  else if constexpr (std::is_same_v<U, int32_t>)
    return DataType::kInt32;
  else if constexpr (std::is_same_v<U, int64_t>)
    return DataType::kInt64;
  else
    static_assert(!sizeof(U), "Kolo carries float, double and 8- to 64-bit integers");
}

// A one-dimensional Tensor over caller memory, no copy. Over mutable memory, allreduce and
// broadcast write their result in place (output == data); over const memory the view is
// input only (allgather, alltoall, reducescatter, whose outputs Kolo allocates). The memory
// must outlive the op's handle. `device`/`stream`: a CUDA buffer (see Tensor).
template <typename T, size_t Extent>
Tensor tensorView(std::span<T, Extent> values, int32_t device = kCpuDevice,
                  void* stream = nullptr) {
  Tensor t;
  t.data = values.data();
  if constexpr (!std::is_const_v<T>) t.output = values.data();
  t.dtype = dataTypeOf<T>();
  t.shape = {static_cast<int64_t>(values.size())};
  t.device = device;
  t.stream = stream;
  return t;
}

class Handle {
 public:
  Handle() = default;
  bool valid() const { return impl_ != nullptr; }
  bool poll() const;  // never blocks
  // timeoutSeconds < 0 waits for ever; a timeout returns kTimeout and leaves the op pending.
  Status wait(double timeoutSeconds = -1.0) const;
  Status status() const;  // kUnavailable while pending
  // Outputs Kolo allocated (allgather, alltoall, reducescatter), valid once complete and for
  // the handle's lifetime, or the caller's own output where the Tensor gave its outputBytes.
  // `part`: the tensor's index in a grouped allgather/reducescatter.
  const void* outputData(size_t part = 0) const;
  size_t outputBytes(size_t part = 0) const;
  std::vector<int64_t> outputShape(size_t part = 0) const;
  size_t outputCount() const;  // tensors in the op (1 unless grouped)
  std::vector<int64_t> receivedSplits() const;  // alltoall
  int32_t lastJoinedRank() const;               // join

 private:
  friend class Session;
  struct Impl;
  explicit Handle(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Waits for every handle (each for at most timeoutSeconds; < 0: for ever), also after one
// failed, so no op still uses its buffers when this returns OK or an op's error; returns the
// first failure in the handles' order, or OK. A timeout leaves that op pending.
inline Status waitAll(const std::vector<Handle>& handles, double timeoutSeconds = -1.0) {
  Status first;
  for (const Handle& h : handles) {
    Status s = h.wait(timeoutSeconds);
    if (!s.isOk() && first.isOk()) first = s;
  }
  return first;
}

class Session {
 public:
  // Joins the job described by the environment that kolorun, mpirun or Slurm set; a program
  // started without a launcher is a world of one.
  static Expected<Session> init(const SessionConfig& config = {});
  Session() = default;

  bool valid() const { return impl_ != nullptr; }
  int rank() const;
  int size() const;
  int localRank() const;
  int localSize() const;
  int crossRank() const;
  int crossSize() const;

  Expected<Handle> allreduce(const std::string& name, const Tensor& tensor,
                             const OpOptions& options = {}) const;
  Expected<Handle> groupedAllreduce(const std::vector<std::string>& names,
                                    const std::vector<Tensor>& tensors,
                                    const OpOptions& options = {}) const;
  Expected<Handle> allgather(const std::string& name, const Tensor& tensor,
                             const OpOptions& options = {}) const;
  Expected<Handle> broadcast(const std::string& name, const Tensor& tensor,
                             const OpOptions& options = {}) const;
  Expected<Handle> alltoall(const std::string& name, const Tensor& tensor,
                            const OpOptions& options = {}) const;
  Expected<Handle> reducescatter(const std::string& name, const Tensor& tensor,
                                 const OpOptions& options = {}) const;
  // Grouped (Horovod's grouped_allgather / grouped_reducescatter): negotiated as one unit,
  // fused into as few collectives as the fusion buffer allows, complete together; tensor i's
  // output is outputData(i). One dtype per group, host tensors only.
  Expected<Handle> groupedAllgather(const std::vector<std::string>& names,
                                    const std::vector<Tensor>& tensors,
                                    const OpOptions& options = {}) const;
  Expected<Handle> groupedReducescatter(const std::vector<std::string>& names,
                                        const std::vector<Tensor>& tensors,
                                        const OpOptions& options = {}) const;
  Expected<Handle> barrier(const std::string& name, const OpOptions& options = {}) const;
  Expected<Handle> join(const OpOptions& options = {}) const;

  // Point-to-point, not collective: only this rank and `peer` take part, and collectives of
  // the other ranks go on meanwhile. `peer` is a rank of options.processSet (the world by
  // default), tags 0 .. 2^31-1. Messages of one (peer, tag) match in posting order; a
  // receive whose dtype or element count differs from the send fails on both ranks with
  // kMismatch naming both sides. send reads tensor.data; recv writes tensor.output (data when
  // output is null). The handle completes once the message was delivered (send) or arrived
  // (recv). CPU tensors only.
  Expected<Handle> send(const Tensor& tensor, int32_t peer, int32_t tag = 0,
                        const OpOptions& options = {}) const;
  Expected<Handle> recv(const Tensor& tensor, int32_t peer, int32_t tag = 0,
                        const OpOptions& options = {}) const;

  // Collective over every rank, called in the same order everywhere; returns the set's id.
  Expected<int32_t> addProcessSet(const std::vector<int32_t>& ranks) const;
  Status removeProcessSet(int32_t id) const;

  // A Chrome-trace timeline (what KOLO_TIMELINE writes), started and stopped at run time;
  // rank 0 writes it, elsewhere both are no-ops. Starting again with the open file's path is
  // a no-op, another path while one is open is kInvalidUsage; stopping with none open is a
  // no-op. markCycles adds a mark per coordinator cycle.
  Status startTimeline(const std::string& path, bool markCycles = false) const;
  Status stopTimeline() const;
  // Elastic jobs: {generation joined, newest published}; {-1, -1} otherwise.
  Expected<std::pair<int64_t, int64_t>> membershipGeneration() const;

  // Collective: returns once every rank shut down (or the shutdown timeout passed). Ops still
  // pending fail with kAborted. The Session (and its copies) is unusable afterwards.
  Status shutdown() const;

 private:
  friend struct SessionInternals;  // runtime/api's own sources: wraps and reads the Engine
  struct Impl;
  explicit Session(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace kolo
