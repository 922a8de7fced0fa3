// CompletionList without a device: entries finish in order once ready, a failing query fails
// the queue behind it, and a deadline runs the abort hook and fails with kTimeout.
#include "kolo/collectives/gpu/completion_list.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kolo::gpu {
namespace {

struct Log {
  std::vector<std::string> finished;
  std::vector<Status> statuses;
};

CompletionList::Entry entry(Log& log, std::string name, const bool& ready,
                            Clock::time_point deadline = Clock::time_point::max()) {
  CompletionList::Entry e;
  e.what = "allreduce '" + name + "'";
  e.ready = [&ready]() -> Expected<bool> { return ready; };
  e.finish = [&log, name](const Status& s) {
    log.finished.push_back(name);
    log.statuses.push_back(s);
  };
  e.deadline = deadline;
  return e;
}

TEST(CompletionList, FinishesReadyEntriesInSubmissionOrderWithoutBlocking) {
  Log log;
  CompletionList list;
  bool aReady = false, bReady = true;
  list.add(entry(log, "a", aReady));
  list.add(entry(log, "b", bReady));
  EXPECT_EQ(list.poll(), 2u) << "b is done but waits behind a on the same stream";
  EXPECT_TRUE(log.finished.empty());
  aReady = true;
  EXPECT_EQ(list.poll(), 0u);
  EXPECT_EQ(log.finished, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(log.statuses[0].isOk());
  EXPECT_TRUE(log.statuses[1].isOk());
}

TEST(CompletionList, AFailedQueryFailsThatEntryAndEverythingBehindIt) {
  Log log;
  CompletionList list;
  bool never = false;
  CompletionList::Entry bad = entry(log, "a", never);
  bad.ready = []() -> Expected<bool> {
    return Status(Code::kRemoteError, "NCCL on rank 1 (gpu:0): asynchronous error");
  };
  list.add(std::move(bad));
  list.add(entry(log, "b", never));
  EXPECT_EQ(list.poll(), 0u);
  ASSERT_EQ(log.finished, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(log.statuses[0].code(), Code::kRemoteError);
  EXPECT_NE(log.statuses[0].message().find("rank 1"), std::string::npos);
  EXPECT_NE(log.statuses[0].message().find("allreduce 'a'"), std::string::npos);
  EXPECT_EQ(log.statuses[1].code(), Code::kRemoteError);
}

TEST(CompletionList, APassedDeadlineRunsTheAbortHookOnceAndFailsWithTimeout) {
  Log log;
  CompletionList list;
  bool never = false;
  const Clock::time_point t0 = Clock::now();
  int aborts = 0;
  CompletionList::Entry e = entry(log, "slow", never, t0 + std::chrono::seconds(5));
  e.onTimeout = [&aborts] {
    ++aborts;
    return std::string("the NCCL communicator of rank 0 was aborted");
  };
  list.add(std::move(e));
  list.add(entry(log, "behind", never));
  EXPECT_EQ(list.poll(t0 + std::chrono::seconds(1)), 2u);
  EXPECT_EQ(aborts, 0);
  EXPECT_EQ(list.poll(t0 + std::chrono::seconds(6)), 0u);
  EXPECT_EQ(aborts, 1);
  ASSERT_EQ(log.finished.size(), 2u);
  EXPECT_EQ(log.statuses[0].code(), Code::kTimeout);
  EXPECT_NE(log.statuses[0].message().find("allreduce 'slow'"), std::string::npos);
  EXPECT_NE(log.statuses[0].message().find("aborted"), std::string::npos)
      << log.statuses[0].message();
  EXPECT_EQ(log.statuses[1].code(), Code::kTimeout);
}

TEST(CompletionList, FailAllFinishesEveryPendingEntryOnce) {
  Log log;
  CompletionList list;
  bool never = false;
  list.add(entry(log, "a", never));
  list.add(entry(log, "b", never));
  list.failAll(Status(Code::kAborted, "shut down"));
  EXPECT_EQ(list.pending(), 0u);
  EXPECT_EQ(log.finished, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(list.poll(), 0u);
  EXPECT_EQ(log.finished.size(), 2u);
}

}  // namespace
}  // namespace kolo::gpu
