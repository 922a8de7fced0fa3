// MetricsPublisher: live metrics of one Engine (KOLO_METRICS_PORT, KOLO_METRICS_FILE).
//
// Every rank's coordinators count into their SetMetrics; this class's thread renders the rank's
// snapshot (renderRankMetrics) every KOLO_METRICS_INTERVAL and writes it, replacing the last,
// into the host's snapshot directory (/dev/shm/kolo-metrics-<uid>-<job>-<host>-<endpoint>, mode
// 0700, one file per rank whose first line names its pid). The host's lead, local rank 0, serves
// the host's ranks as one exposition: its own snapshot rendered on the spot, the others' read
// from their files (a file whose process is gone is removed), merged by family with a `rank`
// label on every sample. It serves it over HTTP (MetricsHttpServer) and/or rewrites
// KOLO_METRICS_FILE with it every interval. An endpoint that cannot be served (port in use,
// bad address) is a warning naming it; the job goes on.
// Thread: addSet and stop on the Engine's caller threads; the publishing loop on its own
// thread; HTTP requests on the server's thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kolo/collectives/communicator.h"
#include "kolo/core/engine_config.h"
#include "metrics_http_server.h"
#include "set_metrics.h"

namespace kolo::core {

class MetricsPublisher {
 public:
  // Null when `options` enable nothing. `world` supplies the per-peer transport bytes.
  static std::unique_ptr<MetricsPublisher> start(const MetricsOptions& options,
                                                 std::shared_ptr<Communicator> world,
                                                 int32_t localRank);
  ~MetricsPublisher();  // stop()
  MetricsPublisher(const MetricsPublisher&) = delete;
  MetricsPublisher& operator=(const MetricsPublisher&) = delete;

  // The counters of a new process set (kept, and shown, until the publisher stops).
  std::shared_ptr<SetMetrics> addSet(int32_t processSet, std::vector<int32_t> members);
  // Writes the last snapshot (and file), stops serving and removes this rank's snapshot.
  void stop();
  // The port served; 0 when none.
  uint16_t servedPort() const { return server_ ? server_->port() : 0; }

 private:
  MetricsPublisher(const MetricsOptions& options, std::shared_ptr<Communicator> world,
                   int32_t localRank, std::string directory);
  void serve();
  void loop();
  void publishOnce();
  std::string renderOwn();
  // At stop: names each set's member that most often arrived last (info level).
  void logArrivalSummaries();
  // The host's exposition: this rank's live text merged with the other ranks' snapshots.
  std::string renderHost();

  const MetricsOptions options_;
  std::shared_ptr<Communicator> world_;
  const int32_t rank_;
  const bool lead_;  // local rank 0: serves the host
  const std::string directory_;
  const std::string ownFile_;
  std::string outputFile_;  // KOLO_METRICS_FILE with %h expanded; lead only

  std::mutex setsMutex_;
  std::vector<std::shared_ptr<SetMetrics>> sets_;

  std::mutex loopMutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  std::unique_ptr<MetricsHttpServer> server_;
};

}  // namespace kolo::core
