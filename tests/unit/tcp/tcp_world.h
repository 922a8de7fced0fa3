// Test support for the TCP transport: ranks as threads in one process, each with its own
// TcpTransport over 127.0.0.1, meeting through a MemoryStore.
// Thread: the test's; bodies run on their own threads.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kolo/collectives/communicator.h"
#include "kolo/rendezvous/memory_store.h"
#include "transport/tcp/tcp_bootstrap.h"

namespace kolo::test {

inline std::string uniqueJobId(const std::string& base) {
  static std::atomic<int> counter{0};
  return fmt::format("{}-{}-{}", base, ::getpid(), counter.fetch_add(1));
}

// The job secret the tests' ranks share (32 bytes, as KOLO_SECRET decodes to).
inline const std::string kTestSecret(32, 's');

inline WorldSpec tcpSpec(int rank, int size, const std::string& jobId, double timeout = 10.0) {
  WorldSpec spec;
  spec.secret = kTestSecret;
  spec.rank = rank;
  spec.size = size;
  spec.jobId = jobId;
  spec.transport = "tcp";
  spec.connectTimeoutSeconds = timeout;
  return spec;
}

// Connects n ranks on n threads; fails the test if any rank fails.
inline std::vector<std::shared_ptr<Transport>> connectTcpWorld(int n, KvStore& store,
                                                               const std::string& jobId,
                                                               const TcpOptions& options = {}) {
  std::vector<Expected<std::shared_ptr<Transport>>> results(
      n, Expected<std::shared_ptr<Transport>>(makeStatus(Code::kInternal, "not run")));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back(
        [&, r] { results[r] = connectTcpTransport(store, tcpSpec(r, n, jobId), options); });
  }
  for (auto& t : threads) t.join();
  std::vector<std::shared_ptr<Transport>> out;
  for (int r = 0; r < n; ++r) {
    EXPECT_TRUE(results[r]) << "rank " << r << ": " << results[r].status().toString();
    out.push_back(results[r] ? *results[r] : nullptr);
  }
  return out;
}

// Runs body(rank, communicator) on one thread per transport; aborts the binary if a rank is
// still running after `hardDeadlineSeconds` (a hang fails in seconds, not at the ctest limit).
inline std::vector<Status> runRanks(const std::vector<std::shared_ptr<Transport>>& transports,
                                    const std::function<Status(int, Communicator&)>& body,
                                    double opTimeoutSeconds = 20.0,
                                    double hardDeadlineSeconds = 45.0) {
  int n = static_cast<int>(transports.size());
  std::vector<Status> results(n);
  std::vector<std::future<void>> done;
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    std::promise<void> finished;
    done.push_back(finished.get_future());
    threads.emplace_back([&, r, finished = std::move(finished)]() mutable {
      Communicator comm(transports[r], nullptr, CommunicatorOptions{opTimeoutSeconds});
      results[r] = body(r, comm);
      finished.set_value();
    });
  }
  auto limit = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(hardDeadlineSeconds));
  for (int r = 0; r < n; ++r) {
    if (done[r].wait_until(limit) != std::future_status::ready) {
      std::fprintf(stderr, "tcp test: rank %d hung for %.0f s\n", r, hardDeadlineSeconds);
      std::abort();
    }
  }
  for (auto& t : threads) t.join();
  return results;
}

inline std::vector<std::byte> patternBytes(size_t n, uint32_t seed) {
  std::vector<std::byte> out(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    out[i] = static_cast<std::byte>(x >> 24);
  }
  return out;
}

}  // namespace kolo::test
