// Fuzz target: the launcher's host parsers, `-H a:2,b` and hostfiles, and the block placement
// that consumes their result.
// Properties: a parsed list is non-empty, every host has a valid name, at least one slot and a
// unique name; writing it back out as `-H` text and as a hostfile parses to the same list; block
// placement of any rank count either fails with a clear error or places each rank exactly once.
// Input: u8 rank-count seed | the text (parsed both as -H and as a hostfile).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "kolo/launcher/host_assignment.h"
#include "kolo/launcher/host_list.h"

namespace {

using namespace kolo::launcher;
using kolo::fuzz::FuzzInput;

void checkHosts(const std::vector<HostSlots>& hosts, const char* what) {
  FUZZ_CHECK(!hosts.empty(), "%s: parsed to no host", what);
  std::set<std::string> names;
  for (const HostSlots& host : hosts) {
    FUZZ_CHECK(host.slots >= 1, "%s: host '%s' has %d slots", what, host.name.c_str(), host.slots);
    FUZZ_CHECK(!host.name.empty(), "%s: empty host name", what);
    FUZZ_CHECK(host.name.find_first_of(" \t\r\n,:#=") == std::string::npos,
               "%s: host name '%s' holds a separator", what, host.name.c_str());
    FUZZ_CHECK(names.insert(host.name).second, "%s: '%s' twice", what, host.name.c_str());
    (void)isLoopbackAddress(host.name);
    (void)isLocalHost(host.name, "node7.cluster");
  }
}

void checkPlacement(const std::vector<HostSlots>& hosts, int worldSize) {
  auto assignment = HostAssignment::blockPlace(hosts, worldSize);
  long total = 0;
  for (const HostSlots& host : hosts) total += host.slots;
  if (!assignment.hasValue()) {
    FUZZ_CHECK(worldSize < 1 || total < worldSize, "placement of %d ranks on %ld slots failed: %s",
               worldSize, total, assignment.status().message().c_str());
    return;
  }
  FUZZ_CHECK(assignment.value().worldSize() == worldSize, "placed %d of %d ranks",
             assignment.value().worldSize(), worldSize);
  std::vector<int> perHost(assignment.value().hosts().size(), 0);
  for (int rank = 0; rank < worldSize; ++rank) {
    const LaunchPlacement& place = assignment.value().placement(rank);
    FUZZ_CHECK(place.localRank == perHost.at(static_cast<size_t>(place.hostIndex))++,
               "rank %d has local rank %d", rank, place.localRank);
    FUZZ_CHECK(assignment.value().crossSize(rank) >= 1, "rank %d: cross size < 1", rank);
  }
  for (size_t h = 0; h < perHost.size(); ++h) {
    FUZZ_CHECK(perHost[h] == assignment.value().localSize(static_cast<int>(h)),
               "host %zu: local size", h);
    FUZZ_CHECK(perHost[h] <= hosts[h].slots, "host %zu: more ranks than slots", h);
  }
}

bool sameHosts(const std::vector<HostSlots>& a, const std::vector<HostSlots>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].slots != b[i].slots) return false;
  }
  return true;
}

void checkRoundTrips(const std::vector<HostSlots>& hosts, const char* what) {
  std::string dashH;
  std::string hostfile;
  for (const HostSlots& host : hosts) {
    dashH += (dashH.empty() ? "" : ",") + host.name + ":" + std::to_string(host.slots);
    hostfile += host.name + " slots=" + std::to_string(host.slots) + "\n";
  }
  auto again = parseHostList(dashH);
  FUZZ_CHECK(again.hasValue() && sameHosts(hosts, again.value()), "%s: -H '%s' does not round trip",
             what, dashH.c_str());
  auto fromFile = parseHostfile(hostfile, "written");
  FUZZ_CHECK(fromFile.hasValue() && sameHosts(hosts, fromFile.value()),
             "%s: hostfile does not round trip", what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t seed = in.u8();
  const std::string text(in.rest());
  const int worldSize = static_cast<int>(seed) - 8;  // a few invalid counts, then 0..247

  (void)splitKeepingEmpty(text, ',');
  auto list = parseHostList(text);
  if (list.hasValue()) {
    checkHosts(list.value(), "-H");
    checkRoundTrips(list.value(), "-H");
    checkPlacement(list.value(), worldSize);
  } else {
    FUZZ_CHECK(list.status().code() == kolo::Code::kInvalidArgument, "-H error code %d",
               static_cast<int>(list.status().code()));
  }
  auto file = parseHostfile(text, "hosts.txt");
  if (file.hasValue()) {
    checkHosts(file.value(), "hostfile");
    checkRoundTrips(file.value(), "hostfile");
    checkPlacement(file.value(), worldSize);
  } else {
    FUZZ_CHECK(file.status().message().rfind("hosts.txt", 0) == 0,
               "hostfile error does not name the file: %s", file.status().message().c_str());
  }
  return 0;
}
