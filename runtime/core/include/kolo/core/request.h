// Request: what one rank tells the coordinator about one named tensor it is ready to
// reduce/gather/broadcast; RequestList: everything one rank submits in one coordinator cycle.
// Plain values with a compact, versioned binary encoding (see parseRequestList); no threads.
// Thread: any (values); built on the coordinator thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/collectives/dtype.h"
#include "kolo/core/tensor.h"  // kCpuDevice, kWorldProcessSet

// kolo::core rather than kolo: kolo::Request already names a transport request.
namespace kolo::core {

enum class OpType : uint8_t {
  kAllreduce = 0,
  kAllgather = 1,
  kBroadcast = 2,
  kAlltoall = 3,
  kReducescatter = 4,
  kBarrier = 5,
  kJoin = 6,
};
inline constexpr int kOpTypeCount = 7;
std::string_view opTypeName(OpType op);  // "allreduce", "allgather", ...

inline constexpr int32_t kNoGroup = -1;

// "cpu" or "gpu:N".
std::string deviceName(int32_t device);

struct Request {
  int32_t rank = 0;  // global rank of the submitter
  std::string tensorName;
  OpType op = OpType::kAllreduce;
  DataType dtype = DataType::kFloat32;
  std::vector<int64_t> shape;  // allgather/alltoall: shape[0] may differ per rank
  ReduceOp reduceOp = ReduceOp::kSum;
  int32_t rootRank = 0;  // broadcast source (global rank)
  int32_t device = kCpuDevice;
  double prescale = 1.0;   // applied to the input before the reduction
  double postscale = 1.0;  // applied to the result
  int32_t processSetId = kWorldProcessSet;
  // Grouped allreduce: every member carries the same id and the group's size; the group is
  // answered as one response once all of its members are ready everywhere.
  int32_t groupId = kNoGroup;
  int32_t groupSize = 0;
  // Alltoall: rows (of shape[0]) this rank sends to each rank of the set, in set order. Empty
  // means an even split.
  std::vector<int64_t> splits;

  int64_t elementCount() const;  // product of shape; 1 for a scalar
  // Everything that must match for a cached response to be reused: all fields but rank.
  bool sameSignature(const Request& other) const;
  bool operator==(const Request&) const = default;
};

struct RequestList {
  int32_t rank = 0;
  std::vector<Request> requests;
  bool shutdown = false;  // this rank is shutting down; the coordinator stops once all are
  bool operator==(const RequestList&) const = default;
};

// Encodings start with a 4-byte magic and a version; parsing checks every length against the
// buffer, every enum against its range and rejects trailing bytes, so a truncated or garbage
// buffer yields kInvalidArgument, never a crash or an unbounded allocation.
std::vector<std::byte> serialize(const Request& request);
std::vector<std::byte> serialize(const RequestList& list);
Expected<Request> parseRequest(std::span<const std::byte> bytes);
Expected<RequestList> parseRequestList(std::span<const std::byte> bytes);

}  // namespace kolo::core
