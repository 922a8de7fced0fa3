// Runs one body per rank on n threads over a loopback world, each with its own Communicator,
// and collects every rank's Status. A body that does not return within the hard deadline means
// a hang: the process reports the stuck ranks and aborts, so the test fails in seconds instead
// of at the ctest timeout.
// Thread: the caller's thread waits; bodies run on their own threads.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kolo/collectives/communicator.h"
#include "transport/loopback/loopback_transport.h"

namespace kolo::test {

struct ThreadedWorldOptions {
  double opTimeoutSeconds = 30.0;     // CommunicatorOptions::timeoutSeconds of every rank
  double hardDeadlineSeconds = 90.0;  // past this the test binary aborts
  std::shared_ptr<FaultPlan> faults;  // optional, shared with the loopback world
};

using RankBody = std::function<Status(Communicator&)>;

inline std::vector<Status> runThreadedWorld(int n, const RankBody& body,
                                            const ThreadedWorldOptions& options = {}) {
  auto transports = makeLoopbackWorld(n, options.faults);
  std::vector<Status> results(n);
  std::vector<bool> finished(n, false);
  std::mutex mu;
  std::condition_variable cv;
  int running = n;
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      Status status;
      {
        CommunicatorOptions commOptions;
        commOptions.timeoutSeconds = options.opTimeoutSeconds;
        Communicator comm(transports[r], nullptr, commOptions);
        try {
          status = body(comm);
        } catch (const std::exception& e) {
          status = makeStatus(Code::kInternal, "rank {} threw: {}", r, e.what());
        }
      }
      std::lock_guard lock(mu);
      results[r] = std::move(status);
      finished[r] = true;
      --running;
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mu);
    auto limit = std::chrono::duration<double>(options.hardDeadlineSeconds);
    if (!cv.wait_for(lock, limit, [&] { return running == 0; })) {
      std::string stuck;
      for (int r = 0; r < n; ++r) {
        if (!finished[r]) stuck += fmt::format(" {}", r);
      }
      std::fprintf(stderr, "threaded world of %d ranks hung for %.1f s; stuck ranks:%s\n", n,
                   options.hardDeadlineSeconds, stuck.c_str());
      std::fflush(stderr);
      std::abort();
    }
  }
  for (auto& t : threads) t.join();
  return results;
}

// "" when every rank succeeded, else one line per failed rank.
inline std::string describeFailures(const std::vector<Status>& results) {
  std::string out;
  for (size_t r = 0; r < results.size(); ++r) {
    if (!results[r].isOk()) out += fmt::format("rank {}: {}\n", r, results[r].toString());
  }
  return out;
}

}  // namespace kolo::test
