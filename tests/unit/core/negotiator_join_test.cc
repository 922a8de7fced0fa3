#include <gtest/gtest.h>

#include "core_test_util.h"
#include "kolo/core/negotiator.h"

namespace kolo::core {
namespace {

using testing::allreduce;
using testing::listOf;
using testing::namesOf;

Request join(int32_t rank) {
  return testing::withOp(allreduce(rank, "join", {}), OpType::kJoin);
}

TEST(NegotiatorJoin, JoinedRankCountsAsSubmittedForAllreduce) {
  Negotiator n = Negotiator::forWorld(3);
  ASSERT_TRUE(n.addRequests(2, listOf(2, {join(2)})).isOk());
  EXPECT_EQ(n.joinedRanks(), std::vector<int32_t>{2});
  Request avg = allreduce(0, "grad", {6});
  avg.reduceOp = ReduceOp::kAverage;
  ASSERT_TRUE(n.addRequests(0, listOf(0, {avg})).isOk());
  EXPECT_TRUE(n.computeResponses().responses.empty());  // rank 1 has neither submitted nor joined
  avg.rank = 1;
  ASSERT_TRUE(n.addRequests(1, listOf(1, {avg})).isOk());
  ResponseList out = n.computeResponses();
  ASSERT_EQ(out.responses.size(), 1u);  // no join response: ranks 0 and 1 have not joined
  const Response& p = out.responses[0];
  ASSERT_FALSE(p.isError()) << p.errorMessage;
  EXPECT_EQ(p.reduceOp, ReduceOp::kAverage);
  // The joined rank learns dtype and element count from the response to contribute zeros.
  EXPECT_EQ(p.dtype, DataType::kFloat32);
  EXPECT_EQ(p.tensorElements, std::vector<int64_t>{6});
}

TEST(NegotiatorJoin, JoinResponseComesLastOnceEveryRankJoined) {
  Negotiator n = Negotiator::forWorld(3);
  ASSERT_TRUE(n.addRequests(0, listOf(0, {join(0)})).isOk());
  ASSERT_TRUE(n.addRequests(2, listOf(2, {allreduce(2, "tail", {2})})).isOk());
  EXPECT_TRUE(n.computeResponses().responses.empty());
  ASSERT_TRUE(n.addRequests(2, listOf(2, {join(2)})).isOk());
  // 'tail' waits for rank 1; rank 1 joining releases it and then the join itself.
  ASSERT_TRUE(n.addRequests(1, listOf(1, {join(1)})).isOk());
  ResponseList out = n.computeResponses();
  ASSERT_EQ(out.responses.size(), 2u);
  EXPECT_EQ(out.responses[0].tensorNames, std::vector<std::string>{"tail"});
  EXPECT_FALSE(out.responses[0].isError()) << out.responses[0].errorMessage;
  EXPECT_EQ(out.responses[1].op, OpType::kJoin);
  EXPECT_EQ(out.responses[1].rootRank, 1);  // the last rank to join
  EXPECT_TRUE(n.joinedRanks().empty());

  // A fresh epoch: joining again is allowed after the join completed.
  ASSERT_TRUE(n.addRequests(0, listOf(0, {join(0)})).isOk());
  EXPECT_EQ(n.joinedRanks(), std::vector<int32_t>{0});
}

TEST(NegotiatorJoin, JoiningTwiceIsRejected) {
  Negotiator n = Negotiator::forWorld(2);
  ASSERT_TRUE(n.addRequests(1, listOf(1, {join(1)})).isOk());
  EXPECT_EQ(n.addRequests(1, listOf(1, {join(1)})).toString(),
            "kInvalidUsage: rank 1 joined process set 0 twice");
}

TEST(NegotiatorJoin, OpsThatNeedEveryRankFailWhileOneHasJoined) {
  Negotiator n = Negotiator::forWorld(3);
  ASSERT_TRUE(n.addRequests(1, listOf(1, {join(1)})).isOk());
  for (int32_t r : {0, 2}) {
    ASSERT_TRUE(n.addRequests(r, listOf(r, {testing::withOp(allreduce(r, "emb", {2, 2}),
                                                            OpType::kAllgather)}))
                    .isOk());
  }
  ResponseList out = n.computeResponses();
  ASSERT_EQ(out.responses.size(), 1u);
  EXPECT_EQ(out.responses[0].errorCode, Code::kInvalidUsage);
  EXPECT_EQ(out.responses[0].errorMessage,
            "tensor 'emb': allgather cannot run while rank [1] has joined; only allreduce and "
            "barrier proceed past a joined rank");
}

TEST(NegotiatorJoin, MinMaxProductCannotUseZerosFromAJoinedRank) {
  Negotiator n = Negotiator::forWorld(2);
  ASSERT_TRUE(n.addRequests(0, listOf(0, {join(0)})).isOk());
  Request q = allreduce(1, "best", {1});
  q.reduceOp = ReduceOp::kMin;
  ASSERT_TRUE(n.addRequests(1, listOf(1, {q})).isOk());
  ResponseList out = n.computeResponses();
  ASSERT_EQ(out.responses.size(), 1u);
  EXPECT_EQ(out.responses[0].errorMessage,
            "tensor 'best': allreduce with reduce op min cannot run while rank [0] has joined (a "
            "joined rank contributes zeros)");
}

TEST(NegotiatorJoin, BarrierCountsJoinedRanks) {
  Negotiator n = Negotiator::forWorld(2);
  ASSERT_TRUE(n.addRequests(1, listOf(1, {join(1)})).isOk());
  ASSERT_TRUE(
      n.addRequests(0, listOf(0, {testing::withOp(allreduce(0, "b", {}), OpType::kBarrier)}))
          .isOk());
  ResponseList out = n.computeResponses();
  ASSERT_EQ(out.responses.size(), 1u);
  EXPECT_EQ(out.responses[0].op, OpType::kBarrier);
  EXPECT_FALSE(out.responses[0].isError());
}

}  // namespace
}  // namespace kolo::core
