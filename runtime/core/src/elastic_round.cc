#include "kolo/core/elastic_round.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "kolo/base/logging.h"
#include "kolo/protocol/elastic.h"

namespace kolo::core {
namespace {

Expected<long> readNumber(KvStore& store, const std::string& key, Deadline deadline) {
  KOLO_ASSIGN_OR_RETURN(std::string text, store.get(key, deadline));
  try {
    size_t used = 0;
    long value = std::stol(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  return Status(Code::kInvalidArgument,
                fmt::format("elastic store key {} holds '{}', not a number", key, text));
}

struct Member {
  int launchRank;
  std::string host;
};

// Ranks by launch rank; local and cross ranks as kolorun numbers them for a fresh job: hosts in
// order of their lowest member.
ElasticMembership place(std::vector<Member> members, int launchRank, ElasticMembership m) {
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return a.launchRank < b.launchRank; });
  std::vector<std::string> hosts;
  std::map<std::string, int> perHost;
  std::vector<int> localRanks;
  for (const Member& member : members) {
    if (std::find(hosts.begin(), hosts.end(), member.host) == hosts.end()) {
      hosts.push_back(member.host);
    }
    localRanks.push_back(perHost[member.host]++);
  }
  m.size = static_cast<int>(members.size());
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i].launchRank != launchRank) continue;
    m.rank = static_cast<int>(i);
    m.localRank = localRanks[i];
    m.localSize = perHost[members[i].host];
    m.crossSize = 0;
    for (const std::string& host : hosts) {
      if (host == members[i].host) m.crossRank = m.crossSize;
      if (perHost[host] > m.localRank) ++m.crossSize;
    }
  }
  return m;
}

}  // namespace

Expected<ElasticMembership> joinElasticRound(KvStore& store, const std::string& job,
                                             int launchRank, const std::string& host,
                                             Deadline deadline) {
  const std::string genKey = protocol::elasticGenerationKey(job);
  for (;;) {
    KOLO_ASSIGN_OR_RETURN(long generation, readNumber(store, genKey, deadline));
    KOLO_ASSIGN_OR_RETURN(long size,
                          readNumber(store, protocol::elasticSizeKey(job, generation), deadline));
    if (size < 1) {
      return Status(Code::kInvalidArgument,
                    fmt::format("elastic generation {} has size {}", generation, size));
    }
    const std::string joinedKey = protocol::elasticJoinedKey(job, generation);
    KOLO_ASSIGN_OR_RETURN(int64_t joined, store.add(joinedKey, 1));
    const long slot = static_cast<long>(joined) - 1;
    const long round = slot / size;
    KOLO_RETURN_IF_ERROR(store.set(protocol::elasticSlotKey(job, generation, slot),
                                   fmt::format("{} {}", launchRank, host)));
    KOLO_LOG(kInfo, "elastic", "launch rank {} joined generation {} (size {}) round {}",
             launchRank, generation, size, round);
    // Wait for the round to fill, or for a newer generation (a member died meanwhile).
    bool superseded = false;
    auto pause = std::chrono::milliseconds(1);
    for (;;) {
      KOLO_ASSIGN_OR_RETURN(int64_t now, store.add(joinedKey, 0));
      if (now >= (round + 1) * size) break;
      KOLO_ASSIGN_OR_RETURN(long latest, readNumber(store, genKey, deadline));
      if (latest != generation) {
        superseded = true;
        break;
      }
      if (deadline.expired()) {
        return Status(Code::kTimeout,
                      fmt::format("elastic generation {}: {} of {} ranks joined round {} before "
                                  "the deadline",
                                  generation, now - round * size, size, round));
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
    if (superseded) continue;
    std::vector<Member> members;
    for (long s = round * size; s < (round + 1) * size; ++s) {
      KOLO_ASSIGN_OR_RETURN(std::string text,
                            store.get(protocol::elasticSlotKey(job, generation, s), deadline));
      const size_t space = text.find(' ');
      Member member{0, space == std::string::npos ? std::string() : text.substr(space + 1)};
      try {
        member.launchRank = std::stoi(text.substr(0, space));
      } catch (const std::exception&) {
        return Status(Code::kInvalidArgument,
                      fmt::format("elastic slot {} holds '{}', not '<rank> <host>'", s, text));
      }
      members.push_back(std::move(member));
    }
    ElasticMembership m;
    m.generation = generation;
    m.round = round;
    m.jobId = fmt::format("{}.e{}.{}", job, generation, round);
    return place(std::move(members), launchRank, m);
  }
}

}  // namespace kolo::core
