// Runs one Engine per rank, ranks as threads over a loopback world, and collects every rank's
// Status. A rank that does not finish within the hard deadline aborts the test binary with the
// stuck ranks, so a hang fails in seconds.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <vector>

#include "kolo/core/engine.h"
#include "support/threaded_world.h"
#include "transport/loopback/loopback_transport.h"

namespace kolo::test {

using EngineBody = std::function<Status(core::Engine&)>;

inline core::EngineConfig testEngineConfig() {
  core::EngineConfig config;
  config.shutdownTimeoutSeconds = 10.0;
  return config;
}

inline std::vector<Status> runEngines(int n, const EngineBody& body,
                                      core::EngineConfig config = testEngineConfig(),
                                      double hardDeadlineSeconds = 60.0,
                                      std::shared_ptr<FaultPlan> faults = nullptr,
                                      double timeoutSeconds = 20.0) {
  auto transports = makeLoopbackWorld(n, std::move(faults));
  return runRankThreads(
      n,
      [&](int r) {
        CommunicatorOptions options;
        options.timeoutSeconds = timeoutSeconds;
        auto comm =
            std::make_shared<Communicator>(transports[static_cast<size_t>(r)], nullptr, options);
        auto engine = core::Engine::create(comm, config);
        if (!engine.hasValue()) return engine.status();
        Status status = body(*engine.value());
        Status s = engine.value()->shutdown();
        return status.isOk() ? s : status;
      },
      hardDeadlineSeconds, "engine world");
}

inline void expectAllOk(const std::vector<Status>& results) {
  for (size_t r = 0; r < results.size(); ++r) {
    EXPECT_TRUE(results[r].isOk()) << "rank " << r << ": " << results[r].toString();
  }
}

// Fails the body with a message instead of asserting on a rank thread.
#define KOLO_CHECK(cond, ...)                                                     \
  do {                                                                            \
    if (!(cond)) return ::kolo::makeStatus(::kolo::Code::kInternal, __VA_ARGS__); \
  } while (0)

inline Tensor tensorOf(std::vector<float>& v, std::vector<int64_t> shape = {}) {
  Tensor t;
  t.data = v.data();
  t.output = v.data();
  t.dtype = DataType::kFloat32;
  t.shape = shape.empty() ? std::vector<int64_t>{static_cast<int64_t>(v.size())} : shape;
  return t;
}

inline Tensor tensorOf(std::vector<int32_t>& v, std::vector<int64_t> shape = {}) {
  Tensor t;
  t.data = v.data();
  t.output = v.data();
  t.dtype = DataType::kInt32;
  t.shape = shape.empty() ? std::vector<int64_t>{static_cast<int64_t>(v.size())} : shape;
  return t;
}

// An alltoall of 3 ranks with splits: rank r sends q+1 rows to rank q, every row 100*r + q.
// Fills `o.splits` and returns rank r's input.
inline std::vector<float> alltoallInputOf(int r, OpOptions& o) {
  std::vector<float> send;
  for (int q = 0; q < 3; ++q) {
    o.splits.push_back(q + 1);
    send.insert(send.end(), static_cast<size_t>(q + 1), static_cast<float>(100 * r + q));
  }
  return send;
}

// What rank r receives from alltoallInputOf's alltoall: r+1 rows from every rank q, 100*q + r.
inline std::vector<float> alltoallOutputOf(int r) {
  std::vector<float> expected;
  for (int q = 0; q < 3; ++q) expected.insert(expected.end(), r + 1, 100.0f * q + r);
  return expected;
}

inline Deadline shortDeadline() {
  return Deadline::afterSeconds(20);
}

}  // namespace kolo::test
