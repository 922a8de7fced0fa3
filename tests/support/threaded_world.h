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
#include <string_view>
#include <thread>
#include <vector>

#include "kolo/base/logging.h"
#include "kolo/collectives/communicator.h"
#include "transport/loopback/loopback_transport.h"

namespace kolo::test {

struct ThreadedWorldOptions {
  double opTimeoutSeconds = 30.0;     // CommunicatorOptions::timeoutSeconds of every rank
  double hardDeadlineSeconds = 90.0;  // past this the test binary aborts
  std::shared_ptr<FaultPlan> faults;  // optional, shared with the loopback world
  coll::SelectionPolicy algorithms;   // CommunicatorOptions::algorithms of every rank
  std::shared_ptr<AbortToken> abort;  // the world's job verdict, shared by every rank (null: own)
};

// Runs body(rank) for every rank of n, each on its own thread, and collects the Statuses; a body
// that throws fails its rank. Past hardDeadlineSeconds the process names the stuck ranks of
// `what` (e.g. "threaded world") on stderr and aborts: a hang fails the test binary at once.
inline std::vector<Status> runRankThreads(int n, const std::function<Status(int)>& body,
                                          double hardDeadlineSeconds, std::string_view what) {
  std::vector<Status> results(static_cast<size_t>(n));
  std::vector<bool> finished(static_cast<size_t>(n), false);
  std::mutex mu;
  std::condition_variable cv;
  int running = n;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      Status status;
      LogRankScope logRank(r);  // ranks as threads: each logs as its own rank
      try {
        status = body(r);
      } catch (const std::exception& e) {
        status = makeStatus(Code::kInternal, "rank {} threw: {}", r, e.what());
      }
      std::lock_guard lock(mu);
      results[static_cast<size_t>(r)] = std::move(status);
      finished[static_cast<size_t>(r)] = true;
      --running;
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mu);
    auto limit = std::chrono::duration<double>(hardDeadlineSeconds);
    if (!cv.wait_for(lock, limit, [&] { return running == 0; })) {
      std::string stuck;
      for (int r = 0; r < n; ++r) {
        if (!finished[static_cast<size_t>(r)]) stuck += fmt::format(" {}", r);
      }
      std::fprintf(stderr, "%.*s of %d ranks hung for %.1f s; stuck ranks:%s\n",
                   static_cast<int>(what.size()), what.data(), n, hardDeadlineSeconds,
                   stuck.c_str());
      std::fflush(stderr);
      std::abort();
    }
  }
  for (auto& t : threads) t.join();
  return results;
}

using RankBody = std::function<Status(Communicator&)>;

inline std::vector<Status> runThreadedWorld(int n, const RankBody& body,
                                            const ThreadedWorldOptions& options = {}) {
  auto transports = makeLoopbackWorld(n, options.faults);
  return runRankThreads(
      n,
      [&](int r) {
        CommunicatorOptions commOptions;
        commOptions.timeoutSeconds = options.opTimeoutSeconds;
        commOptions.algorithms = options.algorithms;
        commOptions.abort = options.abort;
        Communicator comm(transports[static_cast<size_t>(r)], nullptr, commOptions);
        return body(comm);
      },
      options.hardDeadlineSeconds, "threaded world");
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
