#include "sendrecv_bench.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bench_ops.h"
#include "bench_stats.h"
#include "kolo/base/env.h"
#include "runtime_bench.h"

namespace kolo::bench {
namespace {

constexpr double kTimeoutSeconds = 120.0;

using Micros = std::chrono::duration<double, std::micro>;

Expected<uint64_t> sizeArg(const char* option, const std::string& text) {
  auto bytes = parseByteSize(text);
  if (!bytes) {
    return makeStatus(Code::kInvalidArgument,
                      "{} '{}' is not a byte size (expected e.g. 8, 64K, 256M, 1G)", option, text);
  }
  return *bytes;
}

// Pattern values below 128: exact in every dtype.
int64_t patternValue(int rank, size_t index) {
  return static_cast<int64_t>((index * 13 + static_cast<size_t>(rank) * 29) % 101);
}

struct Buffers {
  std::vector<std::byte> send, recv;
};

Tensor viewOf(std::vector<std::byte>& bytes, DataType dtype, size_t count) {
  Tensor t;
  t.data = bytes.data();
  t.output = bytes.data();
  t.dtype = dtype;
  t.shape = {static_cast<int64_t>(count)};
  return t;
}

Status waitBoth(Expected<Handle> a, Expected<Handle> b) {
  KOLO_RETURN_IF_ERROR(a.status());
  KOLO_RETURN_IF_ERROR(b.status());
  KOLO_RETURN_IF_ERROR(a.value().wait(kTimeoutSeconds));
  return b.value().wait(kTimeoutSeconds);
}

// One exchange: the ring (send to rank+1, receive from rank-1) or, with pingpong, 0 -> 1 -> 0.
Status exchange(const Session& s, Buffers& b, DataType dtype, size_t count, bool pingpong) {
  const int n = s.size(), r = s.rank();
  Tensor out = viewOf(b.send, dtype, count), in = viewOf(b.recv, dtype, count);
  if (!pingpong) return waitBoth(s.recv(in, (r + n - 1) % n, 0), s.send(out, (r + 1) % n, 0));
  if (r == 0) {  // the echo's receive is posted first, as an MPI ping-pong's eager send allows
    return waitBoth(s.recv(in, 1, 2), s.send(out, 1, 1));
  }
  if (r == 1) {
    KOLO_ASSIGN_OR_RETURN(Handle h, s.recv(in, 0, 1));
    KOLO_RETURN_IF_ERROR(h.wait(kTimeoutSeconds));
    KOLO_ASSIGN_OR_RETURN(Handle back, s.send(in, 0, 2));  // the echo of what arrived
    return back.wait(kTimeoutSeconds);
  }
  return Status::ok();
}

// Elements of this rank's receive buffer that differ from what its sender wrote.
uint64_t countWrong(const Session& s, const Buffers& b, DataType dtype, size_t count,
                    bool pingpong) {
  const int from = pingpong ? 0 : (s.rank() + s.size() - 1) % s.size();
  if (pingpong && s.rank() > 1) return 0;
  const size_t width = dataTypeSize(dtype);
  std::vector<std::byte> want(count * width);
  for (size_t i = 0; i < count; ++i) storeElement(dtype, want.data(), i, patternValue(from, i));
  uint64_t wrong = 0;
  for (size_t i = 0; i < count; ++i) {
    wrong += std::memcmp(want.data() + i * width, b.recv.data() + i * width, width) != 0;
  }
  return wrong;
}

struct Row {
  uint64_t bytes = 0;
  size_t count = 0;
  double micros = 0;
  uint64_t wrong = 0;
};

Expected<Row> runSize(const Session& s, const SendRecvOptions& o, Buffers& b, size_t count,
                      int index) {
  const size_t width = dataTypeSize(o.dtype);
  for (size_t i = 0; i < count; ++i)
    storeElement(o.dtype, b.send.data(), i, patternValue(s.rank(), i));
  std::vector<double> times;
  for (int it = 0; it < o.warmup + o.iterations; ++it) {
    const auto start = std::chrono::steady_clock::now();
    KOLO_RETURN_IF_ERROR(exchange(s, b, o.dtype, count, o.pingpong));
    const double us = Micros(std::chrono::steady_clock::now() - start).count();
    if (it >= o.warmup) times.push_back(us);
  }
  KOLO_ASSIGN_OR_RETURN(std::vector<double> slowest,
                        maxAcrossRanks(s, fmt::format("sendrecv.times.{}", index), times));
  // The checked exchange, on poisoned receive buffers.
  std::memset(b.recv.data(), 0xA5, count * width);
  KOLO_RETURN_IF_ERROR(exchange(s, b, o.dtype, count, o.pingpong));
  KOLO_ASSIGN_OR_RETURN(uint64_t wrong,
                        sumAcrossRanks(s, fmt::format("sendrecv.wrong.{}", index),
                                       countWrong(s, b, o.dtype, count, o.pingpong)));
  Row row{count * width, count, median(slowest), wrong};
  if (o.pingpong) row.micros /= 2;  // one way
  return row;
}

}  // namespace

Expected<SendRecvOptions> parseSendRecvOptions(int argc, const char* const* argv) {
  SendRecvOptions options;
  CLI::App app{
      "kolo-bench sendrecv: point-to-point through the runtime (nccl-tests "
      "sendrecv_perf's ring of send/recv pairs; --pingpong: one-way latency between "
      "ranks 0 and 1). Time is the median of the slowest rank."};
  std::string minBytes = "8", maxBytes = "64M", dtype = "float32";
  app.add_option("-b,--minbytes", minBytes, "smallest size (K/M/G suffixes)")
      ->capture_default_str();
  app.add_option("-e,--maxbytes", maxBytes, "largest size (K/M/G suffixes)")->capture_default_str();
  app.add_option("-f,--stepfactor", options.stepFactor, "multiply the size by this each step")
      ->capture_default_str();
  app.add_option("-n,--iters", options.iterations, "timed iterations per size")
      ->capture_default_str();
  app.add_option("-w,--warmup_iters", options.warmup, "untimed iterations per size")
      ->capture_default_str();
  app.add_option("-d,--datatype", dtype, "any Kolo dtype")->capture_default_str();
  app.add_flag("--pingpong", options.pingpong, "ranks 0 and 1 bounce one message: latency");
  try {
    app.parse(argc - 1, argv + 1);
  } catch (const CLI::CallForHelp&) {
    options.helpRequested = true;
    options.helpText = app.help();
    return options;
  } catch (const CLI::ParseError& e) {
    return makeStatus(Code::kInvalidArgument, "sendrecv: {}", e.what());
  }
  KOLO_ASSIGN_OR_RETURN(options.minBytes, sizeArg("-b", minBytes));
  KOLO_ASSIGN_OR_RETURN(options.maxBytes, sizeArg("-e", maxBytes));
  auto type = parseDataType(dtype);
  if (!type) return makeStatus(Code::kInvalidArgument, "-d '{}' is not a dtype", dtype);
  options.dtype = *type;
  if (options.iterations < 1 || options.warmup < 0 || options.stepFactor <= 1.0) {
    return Status(Code::kInvalidArgument, "sendrecv: -n >= 1, -w >= 0 and -f > 1 are required");
  }
  return options;
}

Expected<uint64_t> runSendRecv(const Session& s, const SendRecvOptions& o,
                               const std::string& preamble) {
  if (s.size() < 2) return Status(Code::kInvalidUsage, "sendrecv needs at least 2 ranks");
  const size_t width = dataTypeSize(o.dtype);
  Buffers b{std::vector<std::byte>(o.maxBytes / width * width + width),
            std::vector<std::byte>(o.maxBytes / width * width + width)};
  if (s.rank() == 0) {
    std::printf(
        "%s# %s; time = median over %d iterations (%d warmup) of the slowest rank%s\n"
        "#%12s %12s %8s %11s %12s %12s %8s\n",
        preamble.c_str(),
        o.pingpong ? "ping-pong between ranks 0 and 1" : "ring of send/recv pairs", o.iterations,
        o.warmup, o.pingpong ? ", halved (one way)" : "", "size", "count", "type", "time(us)",
        "algbw(GB/s)", "busbw(GB/s)", "#wrong");
  }
  uint64_t wrong = 0;
  int index = 0;
  for (uint64_t bytes : sizeSweep(o.minBytes, o.maxBytes, o.stepFactor, 0)) {
    const size_t count = bytes / width;
    if (count == 0) continue;
    KOLO_ASSIGN_OR_RETURN(Row row, runSize(s, o, b, count, index++));
    wrong += row.wrong;
    const double bw = algorithmBandwidth(row.bytes, row.micros);
    if (s.rank() == 0) {
      std::printf(" %12llu %12zu %8s %11.2f %12.3f %12.3f %8llu\n",
                  static_cast<unsigned long long>(row.bytes), row.count,
                  std::string(dataTypeName(o.dtype)).c_str(), row.micros, bw, bw,
                  static_cast<unsigned long long>(row.wrong));
      std::fflush(stdout);
    }
  }
  if (s.rank() == 0) {
    std::printf("# Out of bounds values : %llu %s\n", static_cast<unsigned long long>(wrong),
                wrong == 0 ? "OK" : "FAILED");
  }
  return wrong;
}

}  // namespace kolo::bench
