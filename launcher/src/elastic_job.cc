#include "kolo/launcher/elastic_job.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include <fmt/format.h>

#include "kolo/protocol/elastic.h"

namespace kolo::launcher {

ElasticJob::ElasticJob(ElasticOptions options, std::string jobId,
                       std::function<void(const std::string&, std::string)> publish,
                       std::function<void(std::vector<HostSlots>&)> classify)
    : options_(std::move(options)),
      jobId_(std::move(jobId)),
      publish_(std::move(publish)),
      classify_(std::move(classify)) {}

void ElasticJob::start(const std::map<int, std::string>& hostOfRank) {
  hostOf_ = hostOfRank;
  nextRank_ = hostOf_.empty() ? 0 : hostOf_.rbegin()->first + 1;
  if (options_.maxNp <= 0) options_.maxNp = alive();
  generation_ = 0;
  publishGeneration();
}

void ElasticJob::publishGeneration() {
  // Size first: a rank that sees the new number must find its size.
  publish_(protocol::elasticSizeKey(jobId_, generation_), std::to_string(alive()));
  publish_(protocol::elasticGenerationKey(jobId_), std::to_string(generation_));
}

bool ElasticJob::tolerateFailure(int rank) {
  if (hostOf_.count(rank) == 0) return true;  // already gone from the membership
  const bool asked = stopping_.erase(rank) > 0;
  if (!asked) {
    if (alive() - 1 < options_.minNp) return false;
    if (options_.resetLimit >= 0 && generation_ >= options_.resetLimit) return false;
  }
  // A host that lost a rank gets no new ones until the discovery script drops it and lists it
  // again (replaced or repaired): otherwise every discovery would start ranks on a dead host.
  if (!asked) failedHosts_.insert(hostOf_[rank]);
  hostOf_.erase(rank);
  ++generation_;
  publishGeneration();
  return true;
}

Expected<ElasticJob::Change> ElasticJob::discover() {
  Change change;
  if (!hasDiscovery()) return change;
  KOLO_ASSIGN_OR_RETURN(std::string text, runDiscoveryScript(options_.discoveryScript));
  KOLO_ASSIGN_OR_RETURN(std::vector<HostSlots> hosts,
                        parseHostfile(text, "--host-discovery-script output"));
  classify_(hosts);
  forgetFailedHostsNotListed(hosts);
  std::map<std::string, std::vector<int>> ranksOn;
  for (const auto& [rank, host] : hostOf_) {
    if (stopping_.count(rank) == 0) ranksOn[host].push_back(rank);
  }
  int live = 0;
  for (const auto& [host, ranks] : ranksOn) live += static_cast<int>(ranks.size());
  // Shrink first (highest launch ranks leave first), never below --min-np.
  std::map<std::string, int> slotsOf;
  for (const HostSlots& host : hosts) slotsOf[host.name] += host.slots;
  for (auto& [host, ranks] : ranksOn) {
    const int keep = slotsOf.count(host) ? slotsOf[host] : 0;
    while (static_cast<int>(ranks.size()) > keep && live - 1 >= options_.minNp) {
      change.stop.push_back(ranks.back());
      ranks.pop_back();
      --live;
    }
  }
  for (const HostSlots& host : hosts) {
    if (failedHosts_.count(host.name) > 0) continue;
    int have = static_cast<int>(ranksOn[host.name].size());
    while (have < host.slots && live < options_.maxNp) {
      change.start.push_back({nextRank_++, host});
      ++have;
      ++live;
    }
  }
  return change;
}

void ElasticJob::forgetFailedHostsNotListed(const std::vector<HostSlots>& hosts) {
  std::erase_if(failedHosts_, [&](const std::string& failed) {
    return std::none_of(hosts.begin(), hosts.end(),
                        [&](const HostSlots& host) { return host.name == failed; });
  });
}

void ElasticJob::started(const std::vector<ElasticStart>& ranks) {
  if (ranks.empty()) return;
  for (const ElasticStart& s : ranks) hostOf_[s.rank] = s.host.name;
  ++generation_;
  publishGeneration();
}

void ElasticJob::stopping(const std::vector<int>& ranks) {
  for (int rank : ranks) stopping_[rank] = true;
}

Expected<std::string> runDiscoveryScript(const std::string& script) {
  FILE* pipe = ::popen(script.c_str(), "r");
  if (pipe == nullptr) {
    return makeStatus(Code::kIoError, "cannot run --host-discovery-script '{}'", script);
  }
  std::string out;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    out.append(buffer, n);
    if (out.size() > (1u << 20)) break;  // a host list, not a data stream
  }
  const int status = ::pclose(pipe);
  if (status != 0) {
    return makeStatus(Code::kIoError, "--host-discovery-script '{}' failed ({})", script,
                      WIFEXITED(status) ? fmt::format("exit code {}", WEXITSTATUS(status))
                                        : std::string("killed by a signal"));
  }
  return out;
}

}  // namespace kolo::launcher
