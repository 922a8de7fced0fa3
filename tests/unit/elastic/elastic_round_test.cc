// The elastic membership round: ranks as threads over one in-memory store, kolorun's part
// played by the test (it publishes each generation's size, then its number).
#include "kolo/core/elastic_round.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "kolo/protocol/elastic.h"
#include "kolo/rendezvous/memory_store.h"

namespace kolo::core {
namespace {

const std::string kJob = "job";

void publish(KvStore& store, long generation, long size) {
  ASSERT_TRUE(store.set(protocol::elasticSizeKey(kJob, generation), std::to_string(size)).isOk());
  ASSERT_TRUE(store.set(protocol::elasticGenerationKey(kJob), std::to_string(generation)).isOk());
}

struct Joiner {
  int launchRank;
  std::string host;
};

std::vector<Expected<ElasticMembership>> joinAll(KvStore& store, const std::vector<Joiner>& who,
                                                 double seconds = 10) {
  std::vector<Expected<ElasticMembership>> out(who.size(), Status(Code::kInternal, "not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < who.size(); ++i) {
    threads.emplace_back([&, i] {
      out[i] = joinElasticRound(store, kJob, who[i].launchRank, who[i].host,
                                Deadline::afterSeconds(seconds));
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

TEST(ElasticRound, NumbersRanksByLaunchRankWithHostPlacement) {
  MemoryStore store;
  publish(store, 0, 4);
  // Joined in a scrambled order; hosts a: launch ranks 0, 3; b: 1, 2.
  auto got = joinAll(store, {{3, "a"}, {1, "b"}, {0, "a"}, {2, "b"}});
  const int expectRank[] = {3, 1, 0, 2};
  const int expectLocal[] = {1, 0, 0, 1};
  const int expectCross[] = {0, 1, 0, 1};
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(got[i].hasValue()) << got[i].status().message();
    const ElasticMembership& m = got[i].value();
    EXPECT_EQ(m.size, 4);
    EXPECT_EQ(m.rank, expectRank[i]);
    EXPECT_EQ(m.localRank, expectLocal[i]);
    EXPECT_EQ(m.localSize, 2);
    EXPECT_EQ(m.crossRank, expectCross[i]);
    EXPECT_EQ(m.crossSize, 2);
    EXPECT_EQ(m.generation, 0);
    EXPECT_EQ(m.jobId, "job.e0.0");
  }
}

TEST(ElasticRound, SurvivorsOfALaterGenerationAreRenumberedInOrder) {
  MemoryStore store;
  publish(store, 0, 3);
  auto first = joinAll(store, {{0, "h"}, {1, "h"}, {2, "h"}});
  for (auto& m : first) ASSERT_TRUE(m.hasValue());
  publish(store, 1, 2);  // launch rank 1 died
  auto second = joinAll(store, {{2, "h"}, {0, "h"}});
  ASSERT_TRUE(second[0].hasValue() && second[1].hasValue());
  EXPECT_EQ(second[0].value().rank, 1);
  EXPECT_EQ(second[1].value().rank, 0);
  EXPECT_EQ(second[0].value().size, 2);
  EXPECT_EQ(second[0].value().localSize, 2);
  EXPECT_EQ(second[0].value().jobId, "job.e1.0");
}

TEST(ElasticRound, ReinitInTheSameGenerationGetsAFreshRound) {
  MemoryStore store;
  publish(store, 0, 2);
  auto a = joinAll(store, {{0, "h"}, {1, "h"}});
  auto b = joinAll(store, {{1, "h"}, {0, "h"}});
  ASSERT_TRUE(a[0].hasValue() && b[0].hasValue() && b[1].hasValue());
  EXPECT_EQ(a[0].value().jobId, "job.e0.0");
  EXPECT_EQ(b[0].value().jobId, "job.e0.1");
  EXPECT_EQ(b[0].value().rank, 1);
}

TEST(ElasticRound, ANewerGenerationReleasesRanksWaitingForADeadMember) {
  MemoryStore store;
  publish(store, 0, 3);
  std::vector<Expected<ElasticMembership>> got;
  std::thread joiners([&] { got = joinAll(store, {{0, "h"}, {2, "h"}}); });
  // Launch rank 1 never joins: kolorun saw it die and publishes generation 1 of two.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  publish(store, 1, 2);
  joiners.join();
  ASSERT_EQ(got.size(), 2u);
  for (auto& m : got) {
    ASSERT_TRUE(m.hasValue()) << m.status().message();
    EXPECT_EQ(m.value().generation, 1);
    EXPECT_EQ(m.value().size, 2);
  }
  EXPECT_EQ(got[0].value().rank, 0);
  EXPECT_EQ(got[1].value().rank, 1);
}

TEST(ElasticRound, TimesOutNamingTheGenerationAndTheCount) {
  MemoryStore store;
  publish(store, 5, 2);
  auto got = joinAll(store, {{0, "h"}}, 0.3);
  ASSERT_FALSE(got[0].hasValue());
  EXPECT_EQ(got[0].status().code(), Code::kTimeout);
  EXPECT_NE(got[0].status().message().find("generation 5"), std::string::npos);
  EXPECT_NE(got[0].status().message().find("1 of 2"), std::string::npos);
}

TEST(ElasticRound, RejectsAMalformedGeneration) {
  MemoryStore store;
  ASSERT_TRUE(store.set(protocol::elasticGenerationKey(kJob), "seven").isOk());
  auto got = joinAll(store, {{0, "h"}}, 1);
  ASSERT_FALSE(got[0].hasValue());
  EXPECT_NE(got[0].status().message().find("seven"), std::string::npos);
}

}  // namespace
}  // namespace kolo::core
