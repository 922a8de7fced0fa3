#include "kolo/core/negotiator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "core_test_util.h"

namespace kolo::core {
namespace {

using testing::allreduce;
using testing::listOf;
using testing::namesOf;

// Every rank submits the same request (rank filled in); returns the one response.
Response negotiateOne(int size, const std::function<Request(int32_t)>& requestOf) {
  Negotiator n = Negotiator::forWorld(size);
  for (int32_t r = 0; r < size; ++r) {
    EXPECT_TRUE(n.addRequests(r, listOf(r, {requestOf(r)})).isOk());
  }
  ResponseList out = n.computeResponses();
  EXPECT_EQ(out.responses.size(), 1u);
  EXPECT_TRUE(n.pendingTensors().empty());
  return out.responses.empty() ? Response{} : out.responses.front();
}

TEST(Negotiator, NameIsReadyOnlyOnceEveryRankSubmitted) {
  Negotiator n = Negotiator::forWorld(3);
  ASSERT_TRUE(n.addRequests(2, listOf(2, {allreduce(2, "w", {4, 5})})).isOk());
  ASSERT_TRUE(n.addRequests(0, listOf(0, {allreduce(0, "w", {4, 5})})).isOk());
  EXPECT_TRUE(n.computeResponses().responses.empty());

  auto pending = n.pendingTensors();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].name, "w");
  EXPECT_EQ(pending[0].submittedRanks, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(pending[0].missingRanks, (std::vector<int32_t>{1}));

  ASSERT_TRUE(n.addRequests(1, listOf(1, {allreduce(1, "w", {4, 5})})).isOk());
  ResponseList out = n.computeResponses();
  ASSERT_EQ(out.responses.size(), 1u);
  const Response& p = out.responses[0];
  EXPECT_FALSE(p.isError()) << p.errorMessage;
  EXPECT_EQ(p.op, OpType::kAllreduce);
  EXPECT_EQ(p.tensorNames, std::vector<std::string>{"w"});
  EXPECT_EQ(p.tensorElements, std::vector<int64_t>{20});
  EXPECT_EQ(p.tensorBytes(0), 80u);
  EXPECT_TRUE(n.pendingTensors().empty());
  EXPECT_TRUE(n.computeResponses().responses.empty());
}

// Four ranks submit ten names in a different random order each, and rank 0 adds their lists
// in a different order each time: the answer is always the same.
TEST(Negotiator, ResponseOrderDoesNotDependOnSubmissionOrder) {
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back("layer" + std::to_string(9 - i) + "/grad");
  std::mt19937 rng(42);
  std::optional<ResponseList> reference;
  for (int trial = 0; trial < 20; ++trial) {
    Negotiator n = Negotiator::forWorld(4);
    std::vector<int32_t> rankOrder = {0, 1, 2, 3};
    std::shuffle(rankOrder.begin(), rankOrder.end(), rng);
    for (int32_t r : rankOrder) {
      std::vector<Request> qs;
      for (const auto& name : names) qs.push_back(allreduce(r, name, {3}));
      std::shuffle(qs.begin(), qs.end(), rng);
      ASSERT_TRUE(n.addRequests(r, listOf(r, qs)).isOk());
    }
    ResponseList out = n.computeResponses();
    if (!reference) {
      reference = out;
      auto sorted = names;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(namesOf(out), sorted);
    } else {
      EXPECT_EQ(out, *reference) << "trial " << trial;
    }
  }
}

// Names ready in an earlier cycle come first; within a cycle, ties go by name.
TEST(Negotiator, OrderIsByCycleOfReadinessThenName) {
  Negotiator n = Negotiator::forWorld(2);
  ASSERT_TRUE(n.addRequests(0, listOf(0, {allreduce(0, "z", {1}), allreduce(0, "a", {1}),
                                          allreduce(0, "m", {1})}))
                  .isOk());
  ASSERT_TRUE(n.addRequests(1, listOf(1, {allreduce(1, "z", {1})})).isOk());
  EXPECT_EQ(namesOf(n.computeResponses()), std::vector<std::string>{"z"});
  ASSERT_TRUE(n.addRequests(1, listOf(1, {allreduce(1, "m", {1}), allreduce(1, "a", {1})})).isOk());
  EXPECT_EQ(namesOf(n.computeResponses()), (std::vector<std::string>{"a", "m"}));
}

TEST(Negotiator, DtypeMismatchNamesTensorValuesAndRanks) {
  Response p = negotiateOne(3, [](int32_t r) {
    return allreduce(r, "grad/w1", {8}, r == 1 ? DataType::kFloat16 : DataType::kFloat32);
  });
  EXPECT_EQ(p.errorCode, Code::kMismatch);
  EXPECT_EQ(p.tensorNames, std::vector<std::string>{"grad/w1"});
  EXPECT_EQ(p.errorMessage,
            "tensor 'grad/w1': dtype mismatch: ranks [0,2] sent float32, rank [1] sent float16");
}

TEST(Negotiator, ShapeMismatchWithTheSameElementCount) {
  Response p = negotiateOne(3, [](int32_t r) {
    return allreduce(r, "w", r == 2 ? std::vector<int64_t>{3, 2} : std::vector<int64_t>{2, 3});
  });
  EXPECT_EQ(p.errorCode, Code::kMismatch);
  EXPECT_EQ(p.errorMessage,
            "tensor 'w': shape mismatch: ranks [0,1] sent [2, 3], rank [2] sent [3, 2]");
}

TEST(Negotiator, ReduceOpMismatch) {
  Response p = negotiateOne(4, [](int32_t r) {
    Request q = allreduce(r, "loss", {1});
    q.reduceOp = r % 2 ? ReduceOp::kMax : ReduceOp::kAverage;
    return q;
  });
  EXPECT_EQ(p.errorMessage,
            "tensor 'loss': reduce op mismatch: ranks [0,2] sent avg, ranks [1,3] sent max");
}

TEST(Negotiator, ThreeWayMismatchListsEveryGroup) {
  Response p = negotiateOne(4, [](int32_t r) {
    Request q = allreduce(r, "x", {1});
    q.dtype = r == 0 ? DataType::kInt8 : r == 3 ? DataType::kInt64 : DataType::kInt32;
    return q;
  });
  EXPECT_EQ(p.errorMessage,
            "tensor 'x': dtype mismatch: rank [0] sent int8, ranks [1,2] sent int32, rank [3] "
            "sent int64");
}

TEST(Negotiator, BroadcastRootMismatchAndBadRoot) {
  Response p = negotiateOne(2, [](int32_t r) {
    Request q = testing::withOp(allreduce(r, "params", {2}), OpType::kBroadcast);
    q.rootRank = r;
    return q;
  });
  EXPECT_EQ(p.errorMessage,
            "tensor 'params': root rank mismatch: rank [0] sent 0, rank [1] sent 1");

  p = negotiateOne(2, [](int32_t r) {
    Request q = testing::withOp(allreduce(r, "params", {2}), OpType::kBroadcast);
    q.rootRank = 5;
    return q;
  });
  EXPECT_EQ(p.errorCode, Code::kInvalidArgument);
  EXPECT_EQ(p.errorMessage,
            "tensor 'params': broadcast root 5 is not a member of process set 0 (ranks [0,1])");
}

TEST(Negotiator, ScaleFactorMismatch) {
  Response p = negotiateOne(2, [](int32_t r) {
    Request q = allreduce(r, "g", {2});
    q.prescale = r == 0 ? 1.0 : 0.5;
    return q;
  });
  EXPECT_EQ(p.errorMessage,
            "tensor 'g': prescale factor mismatch: rank [0] sent 1, rank [1] sent 0.5");
  p = negotiateOne(2, [](int32_t r) {
    Request q = allreduce(r, "g", {2});
    q.postscale = r == 0 ? 0.25 : 2.0;
    return q;
  });
  EXPECT_EQ(p.errorMessage,
            "tensor 'g': postscale factor mismatch: rank [0] sent 0.25, rank [1] sent 2");
}

TEST(Negotiator, DeviceAndOpMismatch) {
  Response p = negotiateOne(2, [](int32_t r) {
    Request q = allreduce(r, "g", {2});
    q.device = r == 0 ? kCpuDevice : 0;
    return q;
  });
  EXPECT_EQ(p.errorMessage, "tensor 'g': device mismatch: rank [0] sent cpu, rank [1] sent gpu:0");

  p = negotiateOne(3, [](int32_t r) {
    return testing::withOp(allreduce(r, "g", {2}),
                           r == 1 ? OpType::kAllgather : OpType::kAllreduce);
  });
  EXPECT_EQ(p.errorMessage,
            "tensor 'g': op mismatch: ranks [0,2] sent allreduce, rank [1] sent allgather");
}

TEST(Negotiator, SessionStaysUsableAfterAMismatch) {
  Negotiator n = Negotiator::forWorld(2);
  ASSERT_TRUE(n.addRequests(0, listOf(0, {allreduce(0, "g", {2})})).isOk());
  ASSERT_TRUE(n.addRequests(1, listOf(1, {allreduce(1, "g", {3})})).isOk());
  ASSERT_TRUE(n.computeResponses().responses.at(0).isError());
  ASSERT_TRUE(n.addRequests(0, listOf(0, {allreduce(0, "g", {3})})).isOk());
  ASSERT_TRUE(n.addRequests(1, listOf(1, {allreduce(1, "g", {3})})).isOk());
  ResponseList out = n.computeResponses();
  ASSERT_EQ(out.responses.size(), 1u);
  EXPECT_FALSE(out.responses[0].isError()) << out.responses[0].errorMessage;
}

TEST(Negotiator, AllgatherRecordsFirstDimensionPerRank) {
  Response p = negotiateOne(3, [](int32_t r) {
    Request q = testing::withOp(allreduce(r, "emb", {std::vector<int64_t>{3, 0, 4}[r], 2, 5}),
                                OpType::kAllgather);
    return q;
  });
  ASSERT_FALSE(p.isError()) << p.errorMessage;
  EXPECT_EQ(p.tensorSizes, (std::vector<int64_t>{3, 0, 4}));
  EXPECT_EQ(p.tensorElements, std::vector<int64_t>{10});

  p = negotiateOne(2, [](int32_t r) {
    return testing::withOp(allreduce(r, "emb", {2, r == 0 ? 5 : 6}), OpType::kAllgather);
  });
  EXPECT_EQ(p.errorMessage,
            "tensor 'emb': rank or trailing dimensions mismatch: rank [0] sent [2, 5], rank [1] "
            "sent [2, 6]");

  p = negotiateOne(
      2, [](int32_t r) { return testing::withOp(allreduce(r, "s", {}), OpType::kAllgather); });
  EXPECT_EQ(p.errorMessage,
            "tensor 's': allgather needs at least one dimension, rank [0] sent a "
            "scalar");
}

TEST(Negotiator, AlltoallRecordsSplitsPerRank) {
  Response p = negotiateOne(2, [](int32_t r) {
    Request q = testing::withOp(allreduce(r, "tokens", {r == 0 ? 5 : 2, 3}), OpType::kAlltoall);
    q.splits = r == 0 ? std::vector<int64_t>{1, 4} : std::vector<int64_t>{2, 0};
    return q;
  });
  ASSERT_FALSE(p.isError()) << p.errorMessage;
  EXPECT_EQ(p.tensorSizes, (std::vector<int64_t>{1, 4, 2, 0}));
  EXPECT_EQ(p.tensorElements, std::vector<int64_t>{3});

  p = negotiateOne(2, [](int32_t r) {
    return testing::withOp(allreduce(r, "even", {4, 3}), OpType::kAlltoall);
  });
  EXPECT_EQ(p.tensorSizes, (std::vector<int64_t>{2, 2, 2, 2}));

  p = negotiateOne(
      3, [](int32_t r) { return testing::withOp(allreduce(r, "odd", {4}), OpType::kAlltoall); });
  EXPECT_EQ(p.errorMessage,
            "tensor 'odd': alltoall without splits needs shape[0] divisible by 3 "
            "ranks, rank [0] sent [4]");

  p = negotiateOne(2, [](int32_t r) {
    Request q = testing::withOp(allreduce(r, "bad", {4}), OpType::kAlltoall);
    q.splits = r == 1 ? std::vector<int64_t>{1, 2} : std::vector<int64_t>{2, 2};
    return q;
  });
  EXPECT_EQ(p.errorMessage,
            "tensor 'bad': alltoall splits of rank [1] add up to 3 but shape[0] is 4");
}

TEST(Negotiator, ZeroSizeTensorNegotiates) {
  Response p = negotiateOne(2, [](int32_t r) { return allreduce(r, "empty", {0, 7}); });
  ASSERT_FALSE(p.isError()) << p.errorMessage;
  EXPECT_EQ(p.tensorElements, std::vector<int64_t>{0});
}

TEST(Negotiator, RejectsDuplicatesForeignRanksAndOtherProcessSets) {
  Negotiator n = Negotiator::forWorld(2);
  ASSERT_TRUE(n.addRequests(0, listOf(0, {allreduce(0, "g", {1})})).isOk());
  Status dup = n.addRequests(0, listOf(0, {allreduce(0, "g", {1}), allreduce(0, "h", {1})}));
  EXPECT_EQ(dup.toString(),
            "kInvalidUsage: rank 0 submitted tensor 'g' again before its previous allreduce "
            "completed");
  Status foreign = n.addRequests(2, listOf(2, {allreduce(2, "g", {1})}));
  EXPECT_EQ(foreign.toString(),
            "kInvalidArgument: rank 2 is not a member of process set 0 (ranks [0,1]); dropped "
            "its 1 requests");
  Request other = allreduce(1, "g", {1});
  other.processSetId = 3;
  EXPECT_EQ(n.addRequests(1, listOf(1, {other})).toString(),
            "kInvalidArgument: rank 1 sent tensor 'g' of process set 3 to the negotiator of "
            "process set 0");
  EXPECT_EQ(n.addRequests(1, listOf(1, {allreduce(1, "neg", {2, -1})})).toString(),
            "kInvalidArgument: rank 1 sent tensor 'neg' with invalid shape [2, -1]");
  // The valid requests were kept: 'h' from rank 0 is pending, 'g' completes normally.
  ASSERT_TRUE(n.addRequests(1, listOf(1, {allreduce(1, "g", {1}), allreduce(1, "h", {1})})).isOk());
  EXPECT_EQ(namesOf(n.computeResponses()), (std::vector<std::string>{"g", "h"}));
}

TEST(Negotiator, ProcessSetUsesGlobalRanks) {
  Negotiator n(2, {1, 3});
  Request a = allreduce(1, "p", {2});
  a.processSetId = 2;
  Request b = allreduce(3, "p", {2}, DataType::kFloat64);
  b.processSetId = 2;
  ASSERT_TRUE(n.addRequests(3, listOf(3, {b})).isOk());
  auto pending = n.pendingTensors();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].missingRanks, std::vector<int32_t>{1});
  ASSERT_TRUE(n.addRequests(1, listOf(1, {a})).isOk());
  ResponseList out = n.computeResponses();
  ASSERT_EQ(out.responses.size(), 1u);
  EXPECT_EQ(out.responses[0].errorMessage,
            "tensor 'p': dtype mismatch: rank [1] sent float32, rank [3] sent float64");
}

TEST(Negotiator, GroupedAllreduceIsAnsweredTogether) {
  Negotiator n = Negotiator::forWorld(2);
  auto member = [](int32_t r, std::string name, int64_t count) {
    Request q = allreduce(r, std::move(name), {count});
    q.groupId = 7;
    q.groupSize = 3;
    return q;
  };
  ASSERT_TRUE(n.addRequests(0, listOf(0, {member(0, "c", 1), member(0, "a", 2), member(0, "b", 3),
                                          allreduce(0, "solo", {1})}))
                  .isOk());
  ASSERT_TRUE(
      n.addRequests(1, listOf(1, {member(1, "a", 2), member(1, "b", 3), allreduce(1, "solo", {1})}))
          .isOk());
  // 'a' and 'b' are ready everywhere, but the group waits for 'c'.
  EXPECT_EQ(namesOf(n.computeResponses()), std::vector<std::string>{"solo"});
  ASSERT_TRUE(n.addRequests(1, listOf(1, {member(1, "c", 1)})).isOk());
  ResponseList out = n.computeResponses();
  ASSERT_EQ(out.responses.size(), 1u);
  const Response& p = out.responses[0];
  ASSERT_FALSE(p.isError()) << p.errorMessage;
  EXPECT_EQ(p.groupId, 7);
  EXPECT_EQ(p.tensorNames, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(p.tensorElements, (std::vector<int64_t>{2, 3, 1}));
}

TEST(Negotiator, GroupMembersMustShareDtype) {
  Negotiator n = Negotiator::forWorld(2);
  for (int32_t r = 0; r < 2; ++r) {
    Request a = allreduce(r, "a", {2});
    Request b = allreduce(r, "b", {2}, DataType::kFloat16);
    a.groupId = b.groupId = 1;
    a.groupSize = b.groupSize = 2;
    ASSERT_TRUE(n.addRequests(r, listOf(r, {a, b})).isOk());
  }
  ResponseList out = n.computeResponses();
  ASSERT_EQ(out.responses.size(), 1u);
  EXPECT_EQ(out.responses[0].tensorNames, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(out.responses[0].errorMessage,
            "group 1: tensor 'b' has dtype float16 but tensor 'a' has float32");
}

// A grouped allgather is one response whose tensorSizes hold each name's rows per rank,
// name-major; a grouped reducescatter is one response too, and a group mixing ops fails.
TEST(Negotiator, GroupedAllgatherAndReducescatterAreAnsweredTogether) {
  Negotiator n = Negotiator::forWorld(2);
  auto member = [](int32_t r, std::string name, OpType op, std::vector<int64_t> shape,
                   int32_t group) {
    Request q = testing::withOp(allreduce(r, std::move(name), std::move(shape)), op);
    q.groupId = group;
    q.groupSize = 2;
    return q;
  };
  for (int32_t r = 0; r < 2; ++r) {
    ASSERT_TRUE(n.addRequests(r, listOf(r, {member(r, "g.b", OpType::kAllgather, {r + 1, 3}, 1),
                                            member(r, "g.a", OpType::kAllgather, {2 - r}, 1),
                                            member(r, "s.a", OpType::kReducescatter, {4, 2}, 2),
                                            member(r, "s.b", OpType::kReducescatter, {3}, 2),
                                            member(r, "x.a", OpType::kAllgather, {1}, 3),
                                            member(r, "x.b", OpType::kReducescatter, {2}, 3)}))
                    .isOk());
  }
  ResponseList out = n.computeResponses();
  ASSERT_EQ(out.responses.size(), 3u);
  const Response& g = out.responses[0];
  ASSERT_FALSE(g.isError()) << g.errorMessage;
  EXPECT_EQ(g.op, OpType::kAllgather);
  EXPECT_EQ(g.tensorNames, (std::vector<std::string>{"g.a", "g.b"}));
  EXPECT_EQ(g.tensorElements, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(g.tensorSizes, (std::vector<int64_t>{2, 1, 1, 2}));
  const Response& s = out.responses[1];
  ASSERT_FALSE(s.isError()) << s.errorMessage;
  EXPECT_EQ(s.op, OpType::kReducescatter);
  EXPECT_EQ(s.tensorElements, (std::vector<int64_t>{8, 3}));
  EXPECT_EQ(out.responses[2].tensorNames, (std::vector<std::string>{"x.a", "x.b"}));
  EXPECT_EQ(out.responses[2].errorMessage,
            "group 3: tensor 'x.b' has op reducescatter but tensor 'x.a' has allgather");
}

TEST(Negotiator, BarrierCompletesWhileAnAllreduceIsStillPending) {
  Negotiator n = Negotiator::forWorld(3);
  for (int32_t r = 0; r < 3; ++r) {
    std::vector<Request> qs = {testing::withOp(allreduce(r, "barrier.1", {}), OpType::kBarrier)};
    if (r != 1) qs.push_back(allreduce(r, "slow", {4}));
    ASSERT_TRUE(n.addRequests(r, listOf(r, qs)).isOk());
  }
  ResponseList out = n.computeResponses();
  ASSERT_EQ(out.responses.size(), 1u);
  EXPECT_EQ(out.responses[0].op, OpType::kBarrier);
  EXPECT_EQ(out.responses[0].tensorNames, std::vector<std::string>{"barrier.1"});
  ASSERT_EQ(n.pendingTensors().size(), 1u);
  EXPECT_EQ(n.pendingTensors()[0].missingRanks, std::vector<int32_t>{1});
}

TEST(Negotiator, ShutdownOnceEveryRankAsked) {
  Negotiator n = Negotiator::forWorld(2);
  RequestList bye = listOf(0, {});
  bye.shutdown = true;
  ASSERT_TRUE(n.addRequests(0, bye).isOk());
  EXPECT_FALSE(n.computeResponses().shutdown);
  bye.rank = 1;
  ASSERT_TRUE(n.addRequests(1, bye).isOk());
  EXPECT_TRUE(n.computeResponses().shutdown);
}

}  // namespace
}  // namespace kolo::core
