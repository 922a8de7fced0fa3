// SupervisedJob: a job kolorun starts and watches itself (everything but --mpi and --dry-run).
// It spawns the launch ranks, runs the Supervisor over them and reports their failures to the
// store; in an elastic job it keeps the membership (ElasticJob) and, on each supervisor tick,
// starts and stops ranks as host discovery reports.
//
// It owns the ElasticJob, the Supervisor and the RankStarter, so the supervisor's callbacks call
// its members; nothing refers to a part that does not exist yet.
//
// Thread: the launcher's main thread; the supervisor's callbacks run on it too.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/launcher/elastic_job.h"
#include "kolo/launcher/job_status.h"
#include "kolo/launcher/launch_options.h"
#include "kolo/launcher/launch_site.h"
#include "kolo/launcher/rank_environment.h"
#include "kolo/launcher/rank_starter.h"
#include "kolo/launcher/store_server.h"
#include "kolo/launcher/supervisor.h"

namespace kolo::launcher {

class SupervisedJob {
 public:
  // Every argument must outlive the job. `executable` is the resolved command for local ranks.
  SupervisedJob(const LaunchOptions& options, const LaunchSite& site, const JobInfo& job,
                const Environment& base, StoreServer& store, std::string executable);
  SupervisedJob(const SupervisedJob&) = delete;
  SupervisedJob& operator=(const SupervisedJob&) = delete;

  // Prepares the supervisor, spawns every launch rank and supervises them until the job ends;
  // kolorun's exit code.
  int run();

 private:
  SupervisorOptions supervisorOptions();
  // The CPU binding plan and ssh's path; an exit code when either cannot be had.
  std::optional<int> prepareStarter();
  Status spawnLaunchRanks();
  // Host discovery (elastic jobs with --host-discovery-script), once per supervisor tick.
  void onDiscoveryTick();
  std::vector<ElasticStart> startDiscoveredRanks(const std::vector<ElasticStart>& ranks);
  void stopUndiscoveredRanks(const std::vector<int>& ranks);
  // A live verdict (job_status.h) over the ranks running here.
  void reportStatus(const std::string& why);

  const LaunchOptions& options_;
  const LaunchSite& site_;
  const JobInfo& job_;
  const Environment& base_;
  StoreServer& store_;
  std::string executable_;
  ElasticJob elastic_;
  Supervisor supervisor_;
  std::optional<RankStarter> starter_;  // made once the binding plan and ssh are known
  std::optional<JobStatus> status_;     // made with the starter
};

}  // namespace kolo::launcher
