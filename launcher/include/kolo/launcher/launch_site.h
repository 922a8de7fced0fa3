// Where a job runs: the hosts of -H / --hostfile (or this machine alone), which of them are this
// machine, the address this machine's ranks and store use, and the rank-to-slot assignment.
// Every name is resolved here, once, so all ranks agree on it.
//
// Thread: the launcher's main thread.
#pragma once

#include <string>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/launcher/host_assignment.h"
#include "kolo/launcher/launch_options.h"

namespace kolo::launcher {

// The job's hosts, classified local or remote, before ranks are placed on them.
struct JobHosts {
  std::vector<HostSlots> hosts;
  std::string hostname;      // this machine's name
  std::string localAddress;  // what this machine's ranks bind and remote ranks reach it at
};

// The hosts the options name, or this machine with -np slots. Loopback serves a single-host job;
// with a remote host and no --network-interface, this machine's primary address.
Expected<JobHosts> resolveHosts(const LaunchOptions& options);

// The slots of all hosts: the rank count of a job given -H / --hostfile without -np.
int totalSlots(const std::vector<HostSlots>& hosts);

struct LaunchSite {
  std::string hostname;
  std::string localAddress;
  HostAssignment assignment;
  bool remote = false;  // some rank starts through ssh

  // A single-host job's store listens on loopback only; with remote hosts it listens on the one
  // address the ranks are given (KOLO_STORE), never on every interface.
  std::string storeAddress() const { return remote ? localAddress : "127.0.0.1"; }
};

// Places options.np ranks on the hosts, block by block; --ranks-filter must name ranks of the job.
Expected<LaunchSite> placeRanks(JobHosts hosts, const LaunchOptions& options);

// Classifies hosts that an elastic job's discovery script reports, as resolveHosts classified
// the first ones. Without --local-hosts, every name for this machine (localhost, 127.x, its
// hostname) is the one local host the job started on.
void classifyDiscoveredHosts(std::vector<HostSlots>& found, const LaunchSite& site,
                             bool localHosts);

// The ranks of every local host: they share this machine's CPUs, so binding counts them together.
int machineRankCount(const HostAssignment& assignment);

}  // namespace kolo::launcher
