#include "workload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "timeline_breakdown.h"

namespace kolo::bench {
namespace {

using ::testing::HasSubstr;

TEST(Workload, ParsesNamesShapesCommentsAndBlankLines) {
  auto w = parseWorkload("# a comment\n\nfc.bias 1000\r\nfc.weight\t1000x2048\n  conv 64x3x7x7  \n",
                         "dir/tiny.txt");
  ASSERT_TRUE(w) << w.status().toString();
  EXPECT_EQ(w->name, "tiny");
  ASSERT_EQ(w->tensors.size(), 3u);
  EXPECT_EQ(w->tensors[0].name, "fc.bias");
  EXPECT_EQ(w->tensors[1].shape, (std::vector<int64_t>{1000, 2048}));
  EXPECT_EQ(w->tensors[2].elements, 64u * 3 * 7 * 7);
  EXPECT_EQ(w->totalElements(), 1000u + 2048000u + 9408u);
  EXPECT_EQ(w->totalBytes(), 4 * w->totalElements());
}

TEST(Workload, BadLineNamesTheFileAndTheLine) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"a 4\nb\n", "model.txt:2: 'b' has no shape"},
      {"# c\na 4\n\nb 4x0\n", "model.txt:4: tensor 'b': dimension '0' is not a positive"},
      {"a 4xq\n", "model.txt:1: tensor 'a': dimension 'q'"},
      {"a 4x\n", "model.txt:1: tensor 'a': dimension ''"},
      {"a -3\n", "model.txt:1: tensor 'a': dimension '-3'"},
      {"a 4\nb 2\na 8\n", "model.txt:3: tensor 'a' is listed twice"},
      {"a 4 5\n", "model.txt:1: 'a 4 5' has more than a name and a shape"},
      {"# nothing\n\n", "model.txt: no tensors listed"},
  };
  for (const auto& c : cases) {
    auto w = parseWorkload(c.text, "model.txt");
    ASSERT_FALSE(w) << c.text;
    EXPECT_EQ(w.status().code(), Code::kInvalidArgument);
    EXPECT_THAT(w.status().message(), HasSubstr(c.message)) << c.text;
  }
}

// torchvision's resnet50(): sum(p.numel() for p in model.parameters()) == 25,557,032 over 161
// tensors; the list is in backward order, so the classifier comes first and conv1 last.
TEST(Workload, Resnet50HasTorchvisionsParameterCount) {
  auto w = loadWorkload("resnet50");
  ASSERT_TRUE(w) << w.status().toString();
  EXPECT_EQ(w->name, "resnet50");
  EXPECT_EQ(w->tensors.size(), 161u);
  EXPECT_EQ(w->totalElements(), 25557032u);
  EXPECT_EQ(w->tensors.front().name, "fc.bias");
  EXPECT_EQ(w->tensors[1].shape, (std::vector<int64_t>{1000, 2048}));
  EXPECT_EQ(w->tensors.back().name, "conv1.weight");
  EXPECT_EQ(w->tensors.back().shape, (std::vector<int64_t>{64, 3, 7, 7}));
}

// BERT-base encoder (BertModel, 12 layers, hidden 768): 109,482,240 parameters, 199 tensors.
TEST(Workload, BertBaseHasItsParameterCount) {
  auto w = loadWorkload("bert-base");
  ASSERT_TRUE(w) << w.status().toString();
  EXPECT_EQ(w->tensors.size(), 199u);
  EXPECT_EQ(w->totalElements(), 109482240u);
  EXPECT_EQ(w->tensors.back().name, "embeddings.word_embeddings.weight");
}

TEST(Workload, UnknownWorkloadSaysWhereItLooked) {
  auto w = loadWorkload("no-such-model");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.status().code(), Code::kUnavailable);
  EXPECT_THAT(w.status().message(), HasSubstr("'no-such-model'"));
  EXPECT_THAT(w.status().message(), HasSubstr("no-such-model.txt"));
}

// Two fused tensors repeat their batch's spans on both rows: counted once. Rows outside the
// prefix (the bench's own ops) and WAIT_FOR_PEERS are not counted.
constexpr const char* kTimeline = R"([
{"name":"thread_name","ph":"M","pid":0,"tid":1,"args":{"name":"m.a"}},
{"name":"thread_name","ph":"M","pid":0,"tid":2,"args":{"name":"m.b"}},
{"name":"thread_name","ph":"M","pid":0,"tid":3,"args":{"name":"kolo-bench.m.steps"}},
{"name":"WAIT_FOR_PEERS","ph":"X","pid":0,"tid":1,"ts":0.0,"dur":900.0,"args":{}},
{"name":"MEMCPY_IN_FUSION_BUFFER","ph":"X","pid":0,"tid":1,"ts":1000.0,"dur":500.0,"args":{}},
{"name":"MEMCPY_IN_FUSION_BUFFER","ph":"X","pid":0,"tid":2,"ts":1000.0,"dur":500.0,"args":{}},
{"name":"FUSED_ALLREDUCE","ph":"X","pid":0,"tid":1,"ts":1500.0,"dur":2000.0,"args":{}},
{"name":"FUSED_ALLREDUCE","ph":"X","pid":0,"tid":2,"ts":1500.0,"dur":2000.0,"args":{}},
{"name":"MEMCPY_OUT_FUSION_BUFFER","ph":"X","pid":0,"tid":1,"ts":3500.0,"dur":250.0,"args":{}},
{"name":"MEMCPY_OUT_FUSION_BUFFER","ph":"X","pid":0,"tid":2,"ts":3500.0,"dur":250.0,"args":{}},
{"name":"ALLREDUCE","ph":"X","pid":0,"tid":1,"ts":5000.0,"dur":3000.0,"args":{}},
{"name":"ALLREDUCE","ph":"X","pid":0,"tid":3,"ts":9000.0,"dur":7000.0,"args":{}},
{"name":"CYCLE 1","ph":"i","s":"p","pid":0,"tid":0,"ts":1.0,"args":{"responses":2}})";

TEST(TimelineBreakdown, CountsEachBatchSpanOnceForTheWorkloadRows) {
  for (std::string text : {std::string(kTimeline) + "\n]\n", std::string(kTimeline) + ",\n{\"na"}) {
    auto b = parseTimelineBreakdown(text, "m.");
    ASSERT_TRUE(b) << b.status().toString();
    EXPECT_DOUBLE_EQ(b->copyMs, 0.75);
    EXPECT_DOUBLE_EQ(b->collectiveMs, 5.0);
    EXPECT_EQ(b->batches, 2u);
    EXPECT_EQ(b->fusedBatches, 1u);
  }
  auto bad = parseTimelineBreakdown("{\"not\": \"a timeline\"}", "m.");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.status().message(), HasSubstr("not a JSON array"));
}

}  // namespace
}  // namespace kolo::bench
