// Response: the answer for one ready name (or one grouped allreduce), the same from every
// member's Negotiator replica: what to run, with which agreed parameters, or why it cannot
// run. ResponseList: one cycle's answers, in the single order every rank executes them.
// Thread: any (values); built on the coordinator thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/core/request.h"

namespace kolo::core {

struct Response {
  OpType op = OpType::kAllreduce;
  // One name, or every member of a grouped allreduce (ordered by name).
  std::vector<std::string> tensorNames;
  DataType dtype = DataType::kFloat32;
  ReduceOp reduceOp = ReduceOp::kSum;
  int32_t rootRank = 0;  // broadcast: the source; join: the last rank that joined
  int32_t device = kCpuDevice;
  double prescale = 1.0;
  double postscale = 1.0;
  int32_t processSetId = kWorldProcessSet;
  int32_t groupId = kNoGroup;
  // Per name: allreduce, broadcast, reducescatter: the agreed element count (a joined rank
  // uses it to contribute zeros); allgather, alltoall: elements per row of shape[0].
  std::vector<int64_t> tensorElements;
  // Per-rank sizes where they differ, ranks in process-set order. Allgather: shape[0] of each
  // rank, name-major ([name0: r0 r1 ...][name1: ...]). Alltoall: each rank's splits,
  // rank-major ([r0 -> r0 r1 ...][r1 -> ...]).
  std::vector<int64_t> tensorSizes;
  // Negotiation failed (ranks disagree, bad root, ...): every rank fails these names with it.
  Code errorCode = Code::kOk;
  std::string errorMessage;

  bool isError() const { return errorCode != Code::kOk; }
  // Bytes of name `i` on this rank's side of an allreduce/broadcast/reducescatter; allgather
  // and alltoall report the bytes of one row.
  uint64_t tensorBytes(size_t i) const;
  bool operator==(const Response&) const = default;
};

struct ResponseList {
  std::vector<Response> responses;
  bool shutdown = false;  // every rank asked to shut down
  bool operator==(const ResponseList&) const = default;
};

std::vector<std::byte> serialize(const Response& response);
std::vector<std::byte> serialize(const ResponseList& list);
Expected<Response> parseResponse(std::span<const std::byte> bytes);
Expected<ResponseList> parseResponseList(std::span<const std::byte> bytes);

}  // namespace kolo::core
