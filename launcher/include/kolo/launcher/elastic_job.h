// ElasticJob: kolorun's side of an elastic job (--min-np, --max-np, --host-discovery-script).
// It knows which launch ranks live on which host, decides whether a failure is survivable,
// publishes each membership generation in the store (kolo/protocol/elastic.h: size first, then
// the number) and turns the host-discovery script's output into ranks to start or to stop.
// The ranks re-form themselves (runtime/core elastic_round, kolo.elastic in Python).
//
// Thread: the launcher's main thread (called from the supervisor's callbacks).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/launcher/host_list.h"

namespace kolo::launcher {

struct ElasticOptions {
  int minNp = 1;
  int maxNp = 0;         // 0: the starting size
  int resetLimit = -1;   // generations after the first; negative: no limit
  std::string discoveryScript;  // empty: the host set never changes
};

// A rank to start: its launch rank (never reused) and the host it goes to.
struct ElasticStart {
  int rank;
  HostSlots host;
};

class ElasticJob {
 public:
  // `publish` sets a store key; `classify` marks discovered hosts local or remote.
  ElasticJob(ElasticOptions options, std::string jobId,
             std::function<void(const std::string&, std::string)> publish,
             std::function<void(std::vector<HostSlots>&)> classify);

  // The first generation: every launch rank with its host name.
  void start(const std::map<int, std::string>& hostOfRank);
  // A rank failed: true when the job goes on without it (a new generation is published).
  bool tolerateFailure(int rank);
  // Runs the discovery script and compares its hosts with the live ranks: new ranks for hosts
  // with free slots (up to maxNp in all), and the ranks to stop on hosts that disappeared or
  // shrank (never below minNp). A host where a rank failed gets no new ranks until the script
  // has once not listed it (Horovod's blacklist, lifted when the host is replaced). Call
  // started() once the new ranks run.
  struct Change {
    std::vector<ElasticStart> start;
    std::vector<int> stop;
  };
  Expected<Change> discover();
  // The ranks of `change.start` that were spawned; publishes the grown generation.
  void started(const std::vector<ElasticStart>& ranks);
  // Ranks asked to stop leave like failed ranks; their exits are expected, not faults.
  void stopping(const std::vector<int>& ranks);

  bool hasDiscovery() const { return !options_.discoveryScript.empty(); }
  int alive() const { return static_cast<int>(hostOf_.size()); }
  long generation() const { return generation_; }

 private:
  void publishGeneration();
  void forgetFailedHostsNotListed(const std::vector<HostSlots>& hosts);

  ElasticOptions options_;
  std::string jobId_;
  std::function<void(const std::string&, std::string)> publish_;
  std::function<void(std::vector<HostSlots>&)> classify_;
  std::map<int, std::string> hostOf_;  // live launch ranks
  std::map<int, bool> stopping_;       // asked to stop by discovery
  std::set<std::string> failedHosts_;  // lost a rank; offered no slots while still listed
  int nextRank_ = 0;
  long generation_ = 0;
};

// Runs `script` through /bin/sh and returns its standard output; an error names the script and
// its exit status.
Expected<std::string> runDiscoveryScript(const std::string& script);

}  // namespace kolo::launcher
