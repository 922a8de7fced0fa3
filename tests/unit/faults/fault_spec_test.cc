#include <gtest/gtest.h>

#include "kolo/base/fault_injection.h"

namespace kolo {
namespace {

TEST(FaultSpec, ParsesEveryField) {
  auto spec = FaultSpec::parse("rank=2,op=allreduce,seq=57,phase=reduce_scatter,action=exit:3");
  ASSERT_TRUE(spec.hasValue()) << spec.status().toString();
  EXPECT_EQ(spec->rank, 2);
  EXPECT_EQ(spec->op, "allreduce");
  EXPECT_EQ(spec->seq, 57);
  EXPECT_EQ(spec->phase, FaultPhase::kReduceScatter);
  EXPECT_EQ(spec->action, FaultAction::kExit);
  EXPECT_EQ(spec->argument, 3);
  EXPECT_EQ(spec->describe(), "rank=2,op=allreduce,seq=57,phase=reduce_scatter,action=exit:3");
}

TEST(FaultSpec, DefaultsAndEveryActionAndPhase) {
  auto spec = FaultSpec::parse(" rank = 0 , action = stop ");
  ASSERT_TRUE(spec.hasValue()) << spec.status().toString();
  EXPECT_EQ(spec->op, "");
  EXPECT_EQ(spec->seq, -1);
  EXPECT_EQ(spec->phase, FaultPhase::kAny);
  EXPECT_EQ(spec->describe(), "rank=0,op=any,seq=any,phase=any,action=stop");
  const std::pair<const char*, FaultAction> actions[] = {
      {"kill", FaultAction::kKill},          {"stop", FaultAction::kStop},
      {"exit:1", FaultAction::kExit},        {"abort", FaultAction::kAbort},
      {"drop_conn", FaultAction::kDropConn}, {"delay_ms:500", FaultAction::kDelay}};
  for (const auto& [text, action] : actions) {
    auto s = FaultSpec::parse(std::string("rank=1,action=") + text);
    ASSERT_TRUE(s.hasValue()) << text << ": " << s.status().toString();
    EXPECT_EQ(s->action, action) << text;
  }
  EXPECT_EQ(FaultSpec::parse("rank=1,action=delay_ms:500")->argument, 500);
  EXPECT_EQ(FaultSpec::parse("rank=1,action=drop_conn")->argument, -1);
  auto stream = FaultSpec::parse("rank=1,action=drop_conn:2");
  ASSERT_TRUE(stream.hasValue()) << stream.status().toString();
  EXPECT_EQ(stream->action, FaultAction::kDropConn);
  EXPECT_EQ(stream->argument, 2);
  EXPECT_EQ(stream->describe(), "rank=1,op=any,seq=any,phase=any,action=drop_conn:2");
  EXPECT_EQ(FaultSpec::parse("rank=1,action=drop_conn")->describe(),
            "rank=1,op=any,seq=any,phase=any,action=drop_conn");
  for (const char* phase :
       {"negotiation", "fusion_copy", "reduce_scatter", "allgather", "hier_cross", "any"}) {
    auto s = FaultSpec::parse(std::string("rank=1,action=kill,phase=") + phase);
    ASSERT_TRUE(s.hasValue()) << phase;
    EXPECT_STREQ(faultPhaseName(s->phase), phase);
  }
  auto corrupt = FaultSpec::parse("rank=1,phase=negotiation,action=corrupt");
  ASSERT_TRUE(corrupt.hasValue()) << corrupt.status().toString();
  EXPECT_EQ(corrupt->action, FaultAction::kCorrupt);
  for (const char* phase : {"reduce_scatter", "allgather", "hier_cross"}) {
    auto data = FaultSpec::parse(std::string("rank=1,action=corrupt,phase=") + phase);
    EXPECT_TRUE(data.hasValue()) << phase << ": " << data.status().toString();
  }
}

TEST(FaultSpec, BadSpecsNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty spec"},
      {"action=kill", "rank= is required"},
      {"rank=1", "action= is required"},
      {"rank=x,action=kill", "rank='x'"},
      {"rank=-1,action=kill", "rank='-1'"},
      {"rank=1,action=kill,seq=abc", "seq='abc'"},
      {"rank=1,action=kill,op=allreduse", "op='allreduse'"},
      {"rank=1,action=kill,phase=reduce", "phase='reduce'"},
      {"rank=1,action=explode", "action='explode'"},
      {"rank=1,action=exit", "action=exit needs ':N'"},
      {"rank=1,action=exit:0", "action=exit:N='0'"},
      {"rank=1,action=exit:256", "action=exit:N='256'"},
      {"rank=1,action=delay_ms:soon", "action=delay_ms:N='soon'"},
      {"rank=1,action=drop_conn:16", "action=drop_conn:S='16'"},
      {"rank=1,action=kill:9", "action=kill takes no argument"},
      {"rank=1,action=kill,colour=red", "unknown field 'colour'"},
      {"rank=1,action=kill,seq", "'seq' is not field=value"},
      {"rank=1,action=corrupt,phase=fusion_copy", "action=corrupt needs phase=negotiation"},
      {"rank=1,action=corrupt", "action=corrupt needs phase=negotiation"},
  };
  for (const auto& [text, expected] : cases) {
    auto spec = FaultSpec::parse(text);
    ASSERT_FALSE(spec.hasValue()) << "'" << text << "' was accepted";
    EXPECT_EQ(spec.status().code(), Code::kInvalidArgument) << text;
    EXPECT_NE(spec.status().message().find(expected), std::string::npos)
        << "'" << text << "': " << spec.status().message();
    EXPECT_NE(spec.status().message().find("KOLO_FAULT_INJECT"), std::string::npos) << text;
  }
}

TEST(FaultSpec, ListsAreSemicolonSeparated) {
  auto list = FaultSpec::parseList("rank=0,action=kill; rank=1,action=delay_ms:5;");
  ASSERT_TRUE(list.hasValue()) << list.status().toString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].rank, 1);
  EXPECT_EQ((*list)[1].action, FaultAction::kDelay);
  auto bad = FaultSpec::parseList("rank=0,action=kill;rank=1,action=nope");
  ASSERT_FALSE(bad.hasValue());
  EXPECT_NE(bad.status().message().find("action='nope'"), std::string::npos);
}

}  // namespace
}  // namespace kolo
