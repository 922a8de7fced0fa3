#include "metrics_publisher.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>

#include "kolo/base/host_address.h"
#include "kolo/base/logging.h"
#include "kolo/base/settings.h"
#include "kolo/base/thread_name.h"
#include "kolo/collectives/peer_traffic.h"
#include "metrics_snapshot.h"
#include "metrics_snapshot_dir.h"
#include "metrics_text.h"

namespace kolo::core {
namespace {

std::string expandHost(std::string path, const std::string& host) {
  for (size_t at = path.find("%h"); at != std::string::npos;
       at = path.find("%h", at + host.size())) {
    path.replace(at, 2, host);
  }
  return path;
}

// Names the endpoint in the snapshot directory, so two jobs that publish elsewhere never mix.
std::string endpointKey(const MetricsOptions& options) {
  if (options.port) return fmt::format("port{}", *options.port);
  return fmt::format("file{:x}", std::hash<std::string>{}(options.file));
}

}  // namespace

std::unique_ptr<MetricsPublisher> MetricsPublisher::start(const MetricsOptions& options,
                                                          std::shared_ptr<Communicator> world,
                                                          int32_t localRank) {
  if (!options.enabled()) return nullptr;
  const std::string host = jobHostName();
  std::string directory =
      metricsSnapshotDirectory(settingTextOrDefault("KOLO_JOB_ID"), host, endpointKey(options));
  if (Status s = ensureSnapshotDirectory(directory); !s.isOk()) {
    KOLO_LOG(kWarning, "metrics", "rank {}: live metrics are off: {}", world->rank(), s.message());
    return nullptr;
  }
  std::unique_ptr<MetricsPublisher> publisher(
      new MetricsPublisher(options, std::move(world), localRank, std::move(directory)));
  if (publisher->lead_) {
    if (!options.file.empty()) publisher->outputFile_ = expandHost(options.file, host);
    publisher->serve();
  }
  publisher->thread_ = std::thread([p = publisher.get()] {
    nameThisThread("kolo-metrics");
    p->loop();
  });
  return publisher;
}

MetricsPublisher::MetricsPublisher(const MetricsOptions& options,
                                   std::shared_ptr<Communicator> world, int32_t localRank,
                                   std::string directory)
    : options_(options),
      world_(std::move(world)),
      rank_(world_->rank()),
      lead_(localRank == 0),
      directory_(std::move(directory)),
      ownFile_(rankSnapshotPath(directory_, rank_)) {}

MetricsPublisher::~MetricsPublisher() {
  stop();
}

void MetricsPublisher::serve() {
  if (!options_.port) return;
  const int64_t port = *options_.port;
  if (port < 0 || port > 65535) {
    KOLO_LOG(kWarning, "metrics",
             "rank {}: KOLO_METRICS_PORT {} is not a TCP port (0-65535): the metrics endpoint "
             "is not served; the job goes on",
             rank_, port);
    return;
  }
  auto server = MetricsHttpServer::start(options_.address, static_cast<uint16_t>(port),
                                         [this] { return renderHost(); });
  if (!server.hasValue()) {
    KOLO_LOG(kWarning, "metrics",
             "rank {}: {} (KOLO_METRICS_PORT={}, KOLO_METRICS_ADDR={}): the metrics endpoint is "
             "not served; the job goes on",
             rank_, server.status().message(), port, options_.address);
    return;
  }
  server_ = std::move(server).value();
  KOLO_LOG(kInfo, "metrics", "rank {}: serving this host's metrics at http://{}:{}/metrics", rank_,
           options_.address, server_->port());
}

std::shared_ptr<SetMetrics> MetricsPublisher::addSet(int32_t processSet,
                                                     std::vector<int32_t> members) {
  auto metrics = std::make_shared<SetMetrics>(processSet, std::move(members));
  std::lock_guard lock(setsMutex_);
  sets_.push_back(metrics);
  return metrics;
}

std::string MetricsPublisher::renderOwn() {
  std::vector<std::shared_ptr<SetMetrics>> sets;
  {
    std::lock_guard lock(setsMutex_);
    sets = sets_;
  }
  std::vector<const SetMetrics*> view;
  for (const auto& s : sets) view.push_back(s.get());
  const std::vector<PeerTraffic> traffic = linkTraffic(*world_);
  return renderRankMetrics(rank_, view, traffic);
}

std::string MetricsPublisher::renderHost() {
  std::vector<std::string> texts;
  bool ownAdded = false;
  for (auto& [rank, text] : readRankSnapshots(directory_, rank_)) {
    if (!ownAdded && rank > rank_) {
      texts.push_back(renderOwn());
      ownAdded = true;
    }
    texts.push_back(std::move(text));
  }
  if (!ownAdded) texts.push_back(renderOwn());
  return mergeExpositions(texts);
}

void MetricsPublisher::publishOnce() {
  if (!lead_) {
    Status s = writeFileAtomically(ownFile_, snapshotPidLine() + renderOwn());
    if (!s.isOk()) KOLO_LOG(kWarning, "metrics", "rank {}: {}", rank_, s.message());
  }
  if (lead_ && !outputFile_.empty()) {
    Status s = writeFileAtomically(outputFile_, renderHost());
    if (!s.isOk())
      KOLO_LOG(kWarning, "metrics", "rank {}: KOLO_METRICS_FILE: {}", rank_, s.message());
  }
}

void MetricsPublisher::loop() {
  LogRankScope logRank(rank_);
  const auto interval = std::chrono::duration<double>(options_.intervalSeconds);
  std::unique_lock lock(loopMutex_);
  while (!stopping_) {
    lock.unlock();
    publishOnce();
    lock.lock();
    wake_.wait_for(lock, interval, [this] { return stopping_; });
  }
}

void MetricsPublisher::logArrivalSummaries() {
  std::lock_guard lock(setsMutex_);
  for (const auto& set : sets_) {
    // Every replica measured the same; the set's first member speaks for it.
    if (set->members().empty() || set->members().front() != rank_) continue;
    const std::string summary = set->arrivals().summary(set->members());
    if (!summary.empty()) {
      KOLO_LOG(kInfo, "metrics", "process set {}: {}", set->processSet(), summary);
    }
  }
}

void MetricsPublisher::stop() {
  {
    std::lock_guard lock(loopMutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  publishOnce();  // the final counts, for KOLO_METRICS_FILE
  logArrivalSummaries();
  server_.reset();
  std::remove(ownFile_.c_str());
  ::rmdir(directory_.c_str());  // the last rank out removes it
}

}  // namespace kolo::core
