// The hooks: which call of faultPoint fires, how ops are numbered, and what corrupt and
// drop_conn do. Real actions are replaced by a recording hook (they would end the test).
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "kolo/base/fault_injection.h"

namespace kolo {
namespace {

struct Fired {
  int rank;
  FaultPhase phase;
  FaultAction action;
};

class FaultPointTest : public ::testing::Test {
 protected:
  void arm(const std::string& text) {
    auto specs = FaultSpec::parseList(text);
    ASSERT_TRUE(specs.hasValue()) << specs.status().toString();
    setFaultPlanForTesting(std::move(specs.value()));
    setFaultActionHookForTesting([this](const FaultSpec& s, FaultPhase p) {
      fired.push_back({s.rank, p, s.action});
    });
  }
  void TearDown() override {
    setFaultActionHookForTesting(nullptr);
    setFaultPlanForTesting({});
  }
  std::vector<Fired> fired;
};

TEST_F(FaultPointTest, FiresOnceAtTheExactRankOpSeqAndPhase) {
  arm("rank=1,op=allreduce,seq=2,phase=allgather,action=kill");
  for (int seq = 0; seq < 5; ++seq) {
    for (int rank = 0; rank < 3; ++rank) {
      FaultOpScope op(rank, "allreduce");
      faultPoint(FaultPhase::kReduceScatter);
      faultPoint(FaultPhase::kAllgather);
      if (!fired.empty() && seq == 2 && rank == 1) {
        ASSERT_EQ(fired.size(), 1u);
      }
    }
    EXPECT_EQ(fired.size(), seq >= 2 ? 1u : 0u) << "after op " << seq;
  }
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].rank, 1);
  EXPECT_EQ(fired[0].phase, FaultPhase::kAllgather);
}

TEST_F(FaultPointTest, OtherOpsAndPointsOutsideAnOpDoNotCount) {
  arm("rank=0,op=allreduce,seq=1,action=stop");
  faultPoint(FaultPhase::kAllgather);  // no op open: nothing to match
  {
    FaultOpScope op(0, "allgather");  // another kind: its own numbering
    faultPoint(FaultPhase::kAllgather);
  }
  {
    FaultOpScope op(0, "allreduce");  // allreduce #0
    faultPoint(FaultPhase::kReduceScatter);
  }
  EXPECT_TRUE(fired.empty());
  {
    FaultOpScope op(0, "allreduce");  // #1, any phase: the first point fires
    faultPoint(FaultPhase::kNegotiation);
  }
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].phase, FaultPhase::kNegotiation);
  EXPECT_EQ(fired[0].action, FaultAction::kStop);
}

TEST_F(FaultPointTest, NestedScopesKeepTheOuterOpAndBatchesTakeSeveralNumbers) {
  arm("rank=3,op=allreduce,seq=4,phase=reduce_scatter,action=abort");
  {
    FaultOpScope batch(3, "allreduce", 3);  // tensors 0, 1, 2
    FaultOpScope inner(3, "allreduce");     // the collective's own entry: not counted again
    faultPoint(FaultPhase::kReduceScatter);
  }
  {
    FaultOpScope hidden(3, "");  // the coordinator's negotiation collectives
    FaultOpScope inner(3, "allreduce");
    faultPoint(FaultPhase::kReduceScatter);
  }
  EXPECT_TRUE(fired.empty());
  {
    FaultOpScope batch(3, "allreduce", 2);  // tensors 3, 4: contains seq 4
    faultPoint(FaultPhase::kReduceScatter);
  }
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].action, FaultAction::kAbort);
}

TEST_F(FaultPointTest, NegotiationAndExecutionAreNumberedSeparately) {
  arm("rank=0,op=allreduce,seq=1,phase=negotiation,action=kill");
  for (int i = 0; i < 3; ++i) {
    FaultOpScope run(0, "allreduce");  // execution numbers 0, 1, 2
  }
  {
    FaultOpScope negotiate(0, "allreduce", 1, kNegotiationCount);  // negotiation #0
    faultPoint(FaultPhase::kNegotiation);
  }
  EXPECT_TRUE(fired.empty());
  {
    FaultOpScope negotiate(0, "allreduce", 1, kNegotiationCount);  // negotiation #1
    faultPoint(FaultPhase::kNegotiation);
  }
  EXPECT_EQ(fired.size(), 1u);
}

TEST_F(FaultPointTest, CorruptFlipsTheControlMessageAndNeedsOne) {
  arm("rank=0,op=allreduce,phase=negotiation,action=corrupt");
  std::vector<std::byte> message(16, std::byte{0});
  {
    FaultOpScope op(0, "allreduce");
    faultPoint(FaultPhase::kNegotiation);  // no payload: not this point
  }
  EXPECT_TRUE(fired.empty());
  {
    FaultOpScope op(0, "allreduce");
    faultPoint(FaultPhase::kNegotiation, message);
  }
  ASSERT_EQ(fired.size(), 1u);
  int changed = 0;
  for (std::byte b : message) changed += b != std::byte{0};
  EXPECT_EQ(changed, 1);
}

TEST_F(FaultPointTest, CorruptAtADataPhaseArmsTheNextTcpFrameOnce) {
  arm("rank=1,op=allreduce,phase=reduce_scatter,action=corrupt");
  EXPECT_FALSE(faultTakeCorruptFrame());
  {
    FaultOpScope op(1, "allreduce");
    faultPoint(FaultPhase::kAllgather);  // another phase: nothing
  }
  EXPECT_FALSE(faultTakeCorruptFrame());
  {
    FaultOpScope op(1, "allreduce");
    faultPoint(FaultPhase::kReduceScatter);
  }
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_TRUE(faultTakeCorruptFrame());
  EXPECT_FALSE(faultTakeCorruptFrame()) << "one frame per firing";
}

TEST_F(FaultPointTest, DropConnSeversRegisteredConnections) {
  arm("rank=2,action=drop_conn");
  int severed = 0;
  int stream = 0;
  const int id = registerFaultSever([&](int s) {
    ++severed;
    stream = s;
  });
  EXPECT_FALSE(faultSevered());
  {
    FaultOpScope op(2, "broadcast");
    faultPoint(FaultPhase::kAllgather);
  }
  unregisterFaultSever(id);
  EXPECT_EQ(severed, 1);
  EXPECT_EQ(stream, -1) << "plain drop_conn severs every connection";
  EXPECT_TRUE(faultSevered());
}

TEST_F(FaultPointTest, DropConnWithAStreamNamesIt) {
  arm("rank=2,action=drop_conn:1");
  int stream = -2;
  const int id = registerFaultSever([&](int s) { stream = s; });
  {
    FaultOpScope op(2, "allreduce");
    faultPoint(FaultPhase::kReduceScatter);
  }
  unregisterFaultSever(id);
  EXPECT_EQ(stream, 1);
}

TEST_F(FaultPointTest, ThreadsAreRanksOfTheirOwn) {
  arm("rank=1,op=allreduce,seq=0,phase=allgather,action=kill");
  std::vector<std::thread> ranks;
  for (int r = 0; r < 4; ++r) {
    ranks.emplace_back([r] {
      FaultOpScope op(r, "allreduce");
      faultPoint(FaultPhase::kAllgather);
    });
  }
  for (auto& t : ranks) t.join();
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].rank, 1);
}

}  // namespace
}  // namespace kolo
