// Helpers for shm tests: ranks as threads of this process, each connecting through a shared
// MemoryStore (the segment is shared memory either way).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "kolo/rendezvous/memory_store.h"
#include "transport/shm/shm_bootstrap.h"

namespace kolo::testing {

// A 256-byte small slot and 4 KiB chunks: modest sizes take the pipelined path through many
// slot reuses.
inline ShmTuning tinySlots() {
  ShmTuning t;
  t.smallBytes = 256;
  t.chunkBytes = 4096;
  return t;
}

inline std::string uniqueJobId(const std::string& what) {
  static std::atomic<int> counter{0};
  return fmt::format("test-{}-{}", what, counter.fetch_add(1));
}

// Runs body(rank, world) on `size` threads after each connected. Connection failures are
// reported as test failures naming the rank.
inline void runShmWorld(int size, const ShmTuning& tuning,
                        const std::function<void(int, ShmWorld&)>& body,
                        const std::string& jobId = uniqueJobId("world")) {
  MemoryStore store;
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      WorldSpec spec;
      spec.rank = r;
      spec.size = size;
      spec.jobId = jobId;
      spec.connectTimeoutSeconds = 20;
      auto world = connectShm(store, spec, tuning);
      ASSERT_TRUE(world.hasValue()) << "rank " << r << ": " << world.status().toString();
      body(r, *world);
    });
  }
  for (auto& t : threads) t.join();
}

// Segments this process created that still have a /dev/shm entry.
inline std::vector<std::string> leftoverSegments() {
  std::vector<std::string> out;
  const std::string mine = fmt::format("-{}-", getpid());
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("kolo-", 0) == 0 && name.find(mine) != std::string::npos) out.push_back(name);
  }
  return out;
}

}  // namespace kolo::testing
