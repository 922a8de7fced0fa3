#include "kolo/launcher/launch_site.h"

#include <fmt/format.h>

#include <utility>

#include "kolo/launcher/host_list.h"
#include "kolo/launcher/job_resources.h"

namespace kolo::launcher {
namespace {

Expected<std::vector<HostSlots>> namedHosts(const LaunchOptions& options) {
  if (!options.hostList.empty()) return parseHostList(options.hostList);
  if (!options.hostfile.empty()) return readHostfile(options.hostfile);
  return std::vector<HostSlots>{HostSlots{localHostname(), "127.0.0.1", options.np, true}};
}

Expected<std::string> interfaceOrLoopback(const LaunchOptions& options) {
  if (options.networkInterface.empty()) return std::string("127.0.0.1");
  return interfaceAddress(options.networkInterface);
}

bool anyRemote(const std::vector<HostSlots>& hosts) {
  for (const HostSlots& host : hosts) {
    if (!host.local) return true;
  }
  return false;
}

// -H / --hostfile hosts: local or remote, and the address each binds.
void classifyNamedHosts(JobHosts& job, const LaunchOptions& options) {
  classifyHosts(job.hosts, job.hostname, job.localAddress);
  if (options.localHosts) {
    for (HostSlots& host : job.hosts) {
      host.local = true;
      host.address = job.localAddress;
    }
  }
  // Remote ranks must reach this machine's ranks and store: loopback will not do.
  if (anyRemote(job.hosts) && options.networkInterface.empty()) {
    job.localAddress = primaryAddress();
    classifyHosts(job.hosts, job.hostname, job.localAddress);
  }
}

}  // namespace

Expected<JobHosts> resolveHosts(const LaunchOptions& options) {
  JobHosts job;
  KOLO_ASSIGN_OR_RETURN(job.hosts, namedHosts(options));
  job.hostname = localHostname();
  KOLO_ASSIGN_OR_RETURN(job.localAddress, interfaceOrLoopback(options));
  if (!options.hostList.empty() || !options.hostfile.empty()) {
    classifyNamedHosts(job, options);
  } else if (!options.networkInterface.empty()) {
    job.hosts[0].address = job.localAddress;
  }
  return job;
}

int totalSlots(const std::vector<HostSlots>& hosts) {
  int slots = 0;
  for (const HostSlots& host : hosts) slots += host.slots;
  return slots;
}

Expected<LaunchSite> placeRanks(JobHosts hosts, const LaunchOptions& options) {
  LaunchSite site;
  KOLO_ASSIGN_OR_RETURN(site.assignment,
                        HostAssignment::blockPlace(std::move(hosts.hosts), options.np));
  for (int rank : options.ranksFilter) {
    if (rank >= options.np) {
      return makeStatus(Code::kInvalidArgument,
                        "--ranks-filter names rank {} but the job has {} rank(s)", rank,
                        options.np);
    }
  }
  site.hostname = std::move(hosts.hostname);
  site.localAddress = std::move(hosts.localAddress);
  site.remote = anyRemote(site.assignment.hosts());
  return site;
}

void classifyDiscoveredHosts(std::vector<HostSlots>& found, const LaunchSite& site,
                             bool localHosts) {
  classifyHosts(found, site.hostname, site.localAddress);
  std::string here;
  for (const HostSlots& host : site.assignment.hosts()) {
    if (host.local && here.empty()) here = host.name;
  }
  for (HostSlots& host : found) {
    if (localHosts) host.local = true;
    if (host.local) host.address = site.localAddress;
    if (host.local && !localHosts && !here.empty()) host.name = here;
  }
}

int machineRankCount(const HostAssignment& assignment) {
  int ranks = 0;
  for (size_t h = 0; h < assignment.hosts().size(); ++h) {
    if (assignment.hosts()[h].local) ranks += assignment.localSize(static_cast<int>(h));
  }
  return ranks;
}

}  // namespace kolo::launcher
