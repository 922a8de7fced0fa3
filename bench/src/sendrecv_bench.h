// kolo-bench sendrecv: point-to-point through the runtime (Session::send/recv), in the shape
// of nccl-tests' sendrecv_perf: every rank sends to rank+1 and receives from rank-1 at once
// (a ring of send/recv pairs), per size the median time of the slowest rank, algbw = bytes /
// time and busbw = algbw (each byte crosses one link), and #wrong from an exact pattern check.
// --pingpong: ranks 0 and 1 bounce one message (the others wait); the time column is half
// the median round trip, the one-way latency.
//   kolorun -np 2 kolo-bench sendrecv -b 8 -e 64M -f 2 [-n 20 -w 5] [-d float32] [--pingpong]
// Thread: the caller's (main) thread; the session's threads move the bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kolo/base/status.h"
#include "kolo/kolo.hpp"

namespace kolo::bench {

struct SendRecvOptions {
  uint64_t minBytes = 8;
  uint64_t maxBytes = uint64_t{64} << 20;
  double stepFactor = 2.0;
  int iterations = 20;
  int warmup = 5;
  DataType dtype = DataType::kFloat32;
  bool pingpong = false;
  bool helpRequested = false;
  std::string helpText;
};

// argv[1] is "sendrecv". kInvalidArgument naming the option for a malformed one.
Expected<SendRecvOptions> parseSendRecvOptions(int argc, const char* const* argv);

// Runs the sweep on the session (every rank), prints the table on rank 0; returns the number
// of wrong elements over every rank and size.
Expected<uint64_t> runSendRecv(const Session& session, const SendRecvOptions& options,
                               const std::string& preamble);

}  // namespace kolo::bench
