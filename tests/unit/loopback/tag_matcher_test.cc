// TagMatcher's matching rules without a transport: per tag in posting order, tags independent,
// early messages kept whole until their receive is posted, cancelled receives never matched.
#include "kolo/collectives/tag_matcher.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

namespace kolo {
namespace {

std::vector<std::byte> bytesOf(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

TEST(TagMatcher, ReceivesOfOneTagMatchInPostingOrderAndTagsAreIndependent) {
  TagMatcher<int> m;
  EXPECT_FALSE(m.post(7, 1).has_value());
  EXPECT_FALSE(m.post(9, 2).has_value());
  EXPECT_FALSE(m.post(7, 3).has_value());
  EXPECT_EQ(m.postedCount(), 3u);
  EXPECT_EQ(m.match(9), 2);
  EXPECT_EQ(m.match(7), 1);
  EXPECT_EQ(m.match(7), 3);
  EXPECT_FALSE(m.match(7).has_value());
  EXPECT_FALSE(m.match(9).has_value());
  EXPECT_EQ(m.postedCount(), 0u);
}

TEST(TagMatcher, AnEarlyMessageIsKeptWholeUntilItsReceiveIsPosted) {
  TagMatcher<int> m;
  EXPECT_FALSE(m.match(5).has_value());
  m.storeUnexpected(5, bytesOf({1, 2, 3}));
  m.storeUnexpected(5, bytesOf({4}));
  m.storeUnexpected(6, bytesOf({9}));
  EXPECT_EQ(m.unexpectedCount(), 3u);
  EXPECT_EQ(m.post(5, 1), bytesOf({1, 2, 3}));
  EXPECT_EQ(m.post(6, 2), bytesOf({9}));
  EXPECT_EQ(m.post(5, 3), bytesOf({4}));
  EXPECT_EQ(m.unexpectedCount(), 0u);
  EXPECT_EQ(m.postedCount(), 0u);  // each receive took its message at once
  EXPECT_FALSE(m.post(5, 4).has_value());
  EXPECT_EQ(m.match(5), 4);
}

TEST(TagMatcher, ACancelledReceiveIsNeverMatchedAndTheOthersKeepTheirOrder) {
  TagMatcher<int> m;
  for (int r = 1; r <= 4; ++r) EXPECT_FALSE(m.post(3, r).has_value());
  EXPECT_TRUE(m.removePosted(3, [](int r) { return r == 2; }));
  EXPECT_FALSE(m.removePosted(3, [](int r) { return r == 2; }));
  EXPECT_FALSE(m.removePosted(4, [](int r) { return r == 3; }));  // another tag
  EXPECT_EQ(m.match(3), 1);
  EXPECT_EQ(m.match(3), 3);
  EXPECT_EQ(m.match(3), 4);
  EXPECT_FALSE(m.match(3).has_value());
}

TEST(TagMatcher, ManyPostedReceivesOfManyTagsAllMatchTheirOwn) {
  TagMatcher<int> m;
  constexpr int kTags = 50, kPerTag = 20;
  for (int i = 0; i < kPerTag; ++i) {
    for (int t = 0; t < kTags; ++t) EXPECT_FALSE(m.post(t, t * 1000 + i).has_value());
  }
  for (int t = kTags - 1; t >= 0; --t) {
    for (int i = 0; i < kPerTag; ++i) EXPECT_EQ(m.match(t), t * 1000 + i);
  }
  EXPECT_EQ(m.postedCount(), 0u);
}

}  // namespace
}  // namespace kolo
