// kolorun's elastic bookkeeping: which failures are survivable, the generations it publishes,
// and what the host-discovery script's output turns into (ranks to start and to stop).
#include "kolo/launcher/elastic_job.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace kolo::launcher {
namespace {

struct Published {
  std::map<std::string, std::string> keys;
  std::vector<std::string> order;
};

ElasticJob makeJob(Published& out, ElasticOptions options) {
  return ElasticJob(
      options, "job",
      [&out](const std::string& key, std::string value) {
        out.keys[key] = std::move(value);
        out.order.push_back(key);
      },
      [](std::vector<HostSlots>& hosts) {
        for (HostSlots& host : hosts) host.local = true;
      });
}

TEST(ElasticJob, PublishesSizeBeforeEachGeneration) {
  Published out;
  ElasticJob job = makeJob(out, {.minNp = 2});
  job.start({{0, "a"}, {1, "a"}, {2, "b"}});
  EXPECT_EQ(out.keys["job/elastic/0/size"], "3");
  EXPECT_EQ(out.keys["job/elastic/generation"], "0");
  ASSERT_EQ(out.order.size(), 2u);
  EXPECT_EQ(out.order[0], "job/elastic/0/size");
  EXPECT_TRUE(job.tolerateFailure(1));
  EXPECT_EQ(out.keys["job/elastic/1/size"], "2");
  EXPECT_EQ(out.keys["job/elastic/generation"], "1");
  EXPECT_EQ(job.alive(), 2);
  // One more would leave one rank, below --min-np 2.
  EXPECT_FALSE(job.tolerateFailure(0));
  EXPECT_EQ(job.generation(), 1);
}

TEST(ElasticJob, ResetLimitCapsSurvivedFailures) {
  Published out;
  ElasticJob job = makeJob(out, {.minNp = 1, .resetLimit = 1});
  job.start({{0, "a"}, {1, "a"}, {2, "a"}});
  EXPECT_TRUE(job.tolerateFailure(2));
  EXPECT_FALSE(job.tolerateFailure(1));
}

TEST(ElasticJob, DiscoveryStartsRanksOnNewSlotsUpToMaxNp) {
  Published out;
  ElasticJob job = makeJob(out, {.minNp = 1, .maxNp = 4, .discoveryScript =
                                                            "printf 'a:2\\nb:3\\n'"});
  job.start({{0, "a"}, {1, "a"}});
  auto change = job.discover();
  ASSERT_TRUE(change.hasValue()) << change.status().message();
  ASSERT_EQ(change.value().start.size(), 2u);  // b has 3 slots, but --max-np 4
  EXPECT_EQ(change.value().start[0].rank, 2);
  EXPECT_EQ(change.value().start[0].host.name, "b");
  EXPECT_EQ(change.value().start[1].rank, 3);
  EXPECT_TRUE(change.value().stop.empty());
  job.started(change.value().start);
  EXPECT_EQ(job.alive(), 4);
  EXPECT_EQ(out.keys["job/elastic/1/size"], "4");
  EXPECT_EQ(out.keys["job/elastic/generation"], "1");
}

TEST(ElasticJob, DiscoveryStopsRanksOfHostsThatLeftButKeepsMinNp) {
  Published out;
  ElasticJob job = makeJob(out, {.minNp = 2, .discoveryScript = "echo a:1"});
  job.start({{0, "a"}, {1, "a"}, {2, "b"}});
  auto change = job.discover();
  ASSERT_TRUE(change.hasValue());
  // a shrinks to 1 slot and b is gone, but only one rank may leave (--min-np 2).
  ASSERT_EQ(change.value().stop.size(), 1u);
  job.stopping(change.value().stop);
  // A rank asked to stop leaves without counting against --min-np or the reset limit.
  EXPECT_TRUE(job.tolerateFailure(change.value().stop[0]));
  EXPECT_EQ(job.alive(), 2);
}

TEST(ElasticJob, ScriptFailureIsAnErrorNamingIt) {
  Published out;
  ElasticJob job = makeJob(out, {.minNp = 1, .discoveryScript = "exit 3"});
  job.start({{0, "a"}});
  auto change = job.discover();
  ASSERT_FALSE(change.hasValue());
  EXPECT_NE(change.status().message().find("exit 3"), std::string::npos);
  EXPECT_NE(change.status().message().find("exit code 3"), std::string::npos);
}

// A host where a rank failed is not offered slots again while the script keeps listing it (it
// may be dead: its ranks would fail at once, every discovery); once the script has dropped it,
// listing it again (a replaced host) offers its slots.
TEST(ElasticJob, FailedHostGetsNoRanksUntilTheScriptDropsAndListsItAgain) {
  Published out;
  const std::string hosts = ::testing::TempDir() + "elastic_failed_host_hosts";
  auto list = [&](const char* text) {
    std::FILE* f = std::fopen(hosts.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text, f);
    std::fclose(f);
  };
  ElasticJob job = makeJob(out, {.minNp = 1, .maxNp = 2, .discoveryScript = "cat " + hosts});
  job.start({{0, "a"}, {1, "b"}});
  ASSERT_TRUE(job.tolerateFailure(1));
  list("a:1\nb:1\n");
  auto change = job.discover();
  ASSERT_TRUE(change.hasValue()) << change.status().message();
  EXPECT_TRUE(change->start.empty());
  list("a:1\n");
  change = job.discover();
  ASSERT_TRUE(change.hasValue());
  EXPECT_TRUE(change->start.empty());
  EXPECT_TRUE(change->stop.empty());
  list("a:1\nb:1\n");
  change = job.discover();
  ASSERT_TRUE(change.hasValue());
  ASSERT_EQ(change->start.size(), 1u);
  EXPECT_EQ(change->start[0].host.name, "b");
  EXPECT_EQ(change->start[0].rank, 2);  // launch ranks are never reused
  std::remove(hosts.c_str());
}

}  // namespace
}  // namespace kolo::launcher
