#include "kolo/core/response_cache.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "core_test_util.h"
#include "kolo/core/negotiator.h"

namespace kolo::core {
namespace {

using testing::allreduce;
using testing::listOf;

// Simulated ranks running the coordinator's cache protocol in lockstep, without threads: the
// AND/OR of bit vectors stands in for the bitwise allreduce, the Negotiator for rank 0.
class SimWorld {
 public:
  SimWorld(int size, size_t capacity) : negotiator_(Negotiator::forWorld(size)) {
    for (int r = 0; r < size; ++r) ranks_.push_back({r, ResponseCache(capacity), {}, {}, false});
  }

  void submit(int32_t rank, Request q) {
    q.rank = rank;
    ranks_[rank].pending[q.tensorName] = std::move(q);
  }
  void join(int32_t rank) {
    submit(rank, testing::withOp(allreduce(rank, "join", {}), OpType::kJoin));
    ranks_[rank].joined = true;
  }

  // One coordinator cycle; returns what each rank executes, in order.
  std::vector<std::vector<Response>> cycle() {
    const size_t capacity = ranks_[0].cache.capacity();
    std::vector<uint64_t> combinedWords;  // the bitwise-AND allreduce of every rank's vote
    std::vector<RequestList> toRankZero;
    lastSent_ = 0;
    for (Rank& rank : ranks_) {
      CacheVote vote = rank.cache.emptyVote();
      RequestList list = listOf(rank.id, {});
      for (const auto& [name, q] : rank.pending) {
        if (rank.sent.count(name)) continue;
        CacheLookup found = rank.cache.lookup(q);
        vote.record(found);
        if (found.state == CacheState::kHit) continue;
        list.requests.push_back(q);
        rank.sent.insert(name);
      }
      if (rank.joined) rank.cache.voteAsJoined(vote);
      std::vector<uint64_t> words = vote.andWords();
      if (combinedWords.empty()) {
        combinedWords = words;
      } else {
        for (size_t i = 0; i < words.size(); ++i) combinedWords[i] &= words[i];
      }
      lastSent_ += list.requests.size();
      toRankZero.push_back(std::move(list));
    }
    const CacheVote combined = CacheVote::fromAndWords(capacity, combinedWords);

    std::vector<std::vector<Response>> executed(ranks_.size());
    for (size_t r = 0; r < ranks_.size(); ++r) executed[r] = ranks_[r].cache.apply(combined);
    for (size_t r = 0; r < ranks_.size(); ++r) {
      EXPECT_TRUE(negotiator_.addRequests(static_cast<int32_t>(r), toRankZero[r]).isOk());
    }
    ResponseList negotiated = negotiator_.computeResponses();
    for (size_t r = 0; r < ranks_.size(); ++r) {
      Rank& rank = ranks_[r];
      for (const Response& p : negotiated.responses) {
        auto it = rank.pending.find(p.tensorNames.front());
        rank.cache.put(p, it == rank.pending.end() ? nullptr : &it->second);
        executed[r].push_back(p);
      }
      for (const Response& p : executed[r]) {
        if (p.op == OpType::kJoin) rank.joined = false;
        for (const auto& name : p.tensorNames) {
          rank.pending.erase(name);
          rank.sent.erase(name);
        }
      }
    }
    return executed;
  }

  // Every rank executed the same list; returns it.
  std::vector<Response> cycleAgreed() {
    auto executed = cycle();
    for (size_t r = 1; r < executed.size(); ++r)
      EXPECT_EQ(executed[r], executed[0]) << "rank " << r;
    expectIdenticalCaches();
    return executed[0];
  }

  void expectIdenticalCaches() const {
    for (size_t r = 1; r < ranks_.size(); ++r) {
      const ResponseCache& a = ranks_[0].cache;
      const ResponseCache& b = ranks_[r].cache;
      ASSERT_EQ(a.size(), b.size()) << "rank " << r;
      for (uint32_t bit = 0; bit < a.capacity(); ++bit) {
        const Response* pa = a.response(bit);
        const Response* pb = b.response(bit);
        ASSERT_EQ(pa == nullptr, pb == nullptr) << "bit " << bit << " rank " << r;
        if (pa) {
          EXPECT_EQ(*pa, *pb) << "bit " << bit << " rank " << r;
        }
      }
    }
  }

  size_t lastSentToRankZero() const { return lastSent_; }
  const ResponseCache& cache(int32_t rank) const { return ranks_[rank].cache; }

 private:
  struct Rank {
    int32_t id;
    ResponseCache cache;
    std::map<std::string, Request> pending;
    std::set<std::string> sent;
    bool joined;
  };
  std::vector<Rank> ranks_;
  Negotiator negotiator_;
  size_t lastSent_ = 0;
};

std::vector<std::string> names(const std::vector<Response>& responses) {
  std::vector<std::string> out;
  for (const auto& p : responses) out.push_back(p.tensorNames.front());
  return out;
}

const std::vector<std::string> kNames = {"e", "d", "c", "b", "a"};

// Ranks submit the first step at different times and in different orders.
void warmUp(SimWorld& world) {
  for (const auto& n : kNames) world.submit(0, allreduce(0, n, {4}));
  world.submit(1, allreduce(1, "c", {4}));
  world.submit(1, allreduce(1, "e", {4}));
  for (const auto& n : {"a", "b", "c", "d", "e"}) world.submit(2, allreduce(2, n, {4}));
  EXPECT_EQ(names(world.cycleAgreed()), (std::vector<std::string>{"c", "e"}));
  world.submit(1, allreduce(1, "a", {4}));
  world.submit(1, allreduce(1, "d", {4}));
  world.submit(1, allreduce(1, "b", {4}));
  EXPECT_EQ(names(world.cycleAgreed()), (std::vector<std::string>{"a", "b", "d"}));
}

TEST(ResponseCache, SteadyStateSkipsRankZero) {
  SimWorld world(3, 16);
  warmUp(world);
  // Bits follow the agreed response order: c, e, then a, b, d.
  EXPECT_EQ(world.cache(1).bitOf("c"), 0u);
  EXPECT_EQ(world.cache(1).bitOf("e"), 1u);
  EXPECT_EQ(world.cache(1).bitOf("d"), 4u);

  for (int step = 0; step < 3; ++step) {
    for (int32_t r = 0; r < 3; ++r) {
      for (const auto& n : kNames) world.submit(r, allreduce(r, n, {4}));
    }
    EXPECT_EQ(names(world.cycleAgreed()), (std::vector<std::string>{"c", "e", "a", "b", "d"}));
    EXPECT_EQ(world.lastSentToRankZero(), 0u);
  }
}

TEST(ResponseCache, HitWaitsUntilEveryRankHasTheTensor) {
  SimWorld world(3, 16);
  warmUp(world);
  world.submit(0, allreduce(0, "a", {4}));
  world.submit(2, allreduce(2, "a", {4}));
  EXPECT_TRUE(world.cycleAgreed().empty());
  EXPECT_TRUE(world.cycleAgreed().empty());
  world.submit(1, allreduce(1, "a", {4}));
  EXPECT_EQ(names(world.cycleAgreed()), std::vector<std::string>{"a"});
  EXPECT_EQ(world.lastSentToRankZero(), 0u);
}

TEST(ResponseCache, ChangedShapeInvalidatesAndRenegotiates) {
  SimWorld world(3, 16);
  warmUp(world);
  // Rank 1 changes 'b' to the same element count, different shape.
  world.submit(0, allreduce(0, "b", {4}));
  world.submit(1, allreduce(1, "b", {2, 2}));
  world.submit(2, allreduce(2, "b", {4}));
  EXPECT_TRUE(world.cycleAgreed().empty());  // invalidated everywhere, rank 1 went to rank 0
  EXPECT_FALSE(world.cache(0).bitOf("b").has_value());
  auto out = world.cycleAgreed();  // the others miss now and go to rank 0 too
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].errorMessage,
            "tensor 'b': shape mismatch: ranks [0,2] sent [4], rank [1] sent [2, 2]");

  // Everyone moves to the new shape: renegotiated once, then cached again.
  for (int32_t r = 0; r < 3; ++r) world.submit(r, allreduce(r, "b", {2, 2}));
  ASSERT_EQ(names(world.cycleAgreed()), std::vector<std::string>{"b"});
  EXPECT_EQ(world.lastSentToRankZero(), 3u);
  EXPECT_EQ(world.cache(2).bitOf("b"), 3u);  // the lowest free bit
  for (int32_t r = 0; r < 3; ++r) world.submit(r, allreduce(r, "b", {2, 2}));
  ASSERT_EQ(names(world.cycleAgreed()), std::vector<std::string>{"b"});
  EXPECT_EQ(world.lastSentToRankZero(), 0u);
}

TEST(ResponseCache, EvictionIsTheSameOnEveryRank) {
  SimWorld world(2, 3);
  auto step = [&](const std::vector<std::string>& tensors) {
    for (int32_t r = 0; r < 2; ++r) {
      for (const auto& n : tensors) world.submit(r, allreduce(r, n, {1}));
    }
    return names(world.cycleAgreed());
  };
  step({"x", "y", "z"});  // bits x0 y1 z2, LRU order x y z
  EXPECT_EQ(world.lastSentToRankZero(), 6u);
  step({"x"});  // hit: LRU order y z x
  EXPECT_EQ(world.lastSentToRankZero(), 0u);
  step({"w"});  // full: evicts y, w takes bit 1
  EXPECT_EQ(world.cache(0).bitOf("w"), 1u);
  EXPECT_EQ(world.cache(1).bitOf("w"), 1u);
  EXPECT_FALSE(world.cache(1).bitOf("y").has_value());
  EXPECT_EQ(world.cache(0).size(), 3u);
  step({"y"});  // evicted: a miss, renegotiated; evicts z
  EXPECT_EQ(world.lastSentToRankZero(), 2u);
  EXPECT_EQ(world.cache(1).bitOf("y"), 2u);
  EXPECT_FALSE(world.cache(0).bitOf("z").has_value());
}

// A bit can be reassigned while a rank still waits on it: lookups are redone every cycle.
TEST(ResponseCache, PendingHitSurvivesEvictionOfItsBit) {
  SimWorld world(2, 1);
  world.submit(0, allreduce(0, "p", {1}));
  world.submit(1, allreduce(1, "p", {1}));
  world.cycleAgreed();
  world.submit(0, allreduce(0, "p", {1}));  // hit on bit 0, waits for rank 1
  world.submit(0, allreduce(0, "q", {1}));
  world.submit(1, allreduce(1, "q", {1}));
  EXPECT_EQ(names(world.cycleAgreed()), std::vector<std::string>{"q"});  // q evicts p
  world.submit(1, allreduce(1, "p", {1}));
  EXPECT_EQ(names(world.cycleAgreed()), std::vector<std::string>{"p"});
  EXPECT_EQ(world.lastSentToRankZero(), 2u);
}

TEST(ResponseCache, JoinedRankTakesPartInCachedAllreduces) {
  SimWorld world(3, 8);
  Request best = allreduce(0, "best", {1});
  best.reduceOp = ReduceOp::kMin;
  for (int32_t r = 0; r < 3; ++r) {
    world.submit(r, allreduce(r, "g", {8}));
    world.submit(r, best);
  }
  world.cycleAgreed();
  world.join(2);
  for (int32_t r = 0; r < 2; ++r) world.submit(r, allreduce(r, "g", {8}));
  auto out = world.cycleAgreed();
  EXPECT_EQ(names(out), std::vector<std::string>{"g"});  // through the cache, zeros from rank 2

  // A cached min cannot take zeros: the joined rank invalidates it and rank 0 says why.
  for (int32_t r = 0; r < 2; ++r) world.submit(r, best);
  out = world.cycleAgreed();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].errorMessage,
            "tensor 'best': allreduce with reduce op min cannot run while rank [2] has joined (a "
            "joined rank contributes zeros)");
  // Once every rank has joined, nobody submitted 'g': it must not run from the cache.
  world.join(0);
  world.join(1);
  out = world.cycleAgreed();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].op, OpType::kJoin);
  EXPECT_EQ(out[0].rootRank, 1);
}

TEST(ResponseCache, CapacityZeroAlwaysMisses) {
  SimWorld world(2, 0);
  for (int i = 0; i < 2; ++i) {
    for (int32_t r = 0; r < 2; ++r) world.submit(r, allreduce(r, "g", {1}));
    EXPECT_EQ(names(world.cycleAgreed()), std::vector<std::string>{"g"});
    EXPECT_EQ(world.lastSentToRankZero(), 2u);
  }
  EXPECT_EQ(world.cache(0).size(), 0u);
}

TEST(ResponseCache, LookupStatesAndWhatIsNotCached) {
  ResponseCache cache(4);
  Request q = allreduce(0, "g", {3});
  Response p;
  p.tensorNames = {"g"};
  p.tensorElements = {3};
  EXPECT_EQ(cache.lookup(q).state, CacheState::kMiss);
  cache.put(p, &q);
  EXPECT_EQ(cache.lookup(q).state, CacheState::kHit);
  Request otherRank = q;
  otherRank.rank = 3;  // the submitter is not part of the signature
  EXPECT_EQ(cache.lookup(otherRank).state, CacheState::kHit);
  Request scaled = q;
  scaled.postscale = 0.5;
  CacheLookup l = cache.lookup(scaled);
  EXPECT_EQ(l.state, CacheState::kInvalid);
  EXPECT_EQ(l.bit, 0u);

  // Cached without a local request (the rank had joined): reads as invalid.
  Response h = p;
  h.tensorNames = {"h"};
  cache.put(h, nullptr);
  EXPECT_EQ(cache.lookup(allreduce(0, "h", {3})).state, CacheState::kInvalid);

  Response error = p;
  error.tensorNames = {"bad"};
  error.errorCode = Code::kMismatch;
  cache.put(error, &q);
  Response grouped = p;
  grouped.tensorNames = {"g1", "g2"};
  grouped.groupId = 3;
  cache.put(grouped, &q);
  EXPECT_EQ(cache.size(), 2u);

  Request member = allreduce(0, "g1", {1});
  member.groupId = 3;
  member.groupSize = 2;
  EXPECT_FALSE(ResponseCache::cacheable(member));
  EXPECT_FALSE(ResponseCache::cacheable(testing::withOp(q, OpType::kJoin)));
  EXPECT_TRUE(ResponseCache::cacheable(testing::withOp(q, OpType::kAllgather)));
}

TEST(ResponseCache, CapacityFromEnvironment) {
  ::unsetenv("KOLO_CACHE_CAPACITY");
  ::unsetenv("HOROVOD_CACHE_CAPACITY");
  EXPECT_EQ(cacheCapacityFromEnv(), 1024u);
  ::setenv("HOROVOD_CACHE_CAPACITY", "0", 1);
  EXPECT_EQ(cacheCapacityFromEnv(), 0u);
  ::setenv("KOLO_CACHE_CAPACITY", "77", 1);
  EXPECT_EQ(cacheCapacityFromEnv(), 77u);
  ::setenv("KOLO_CACHE_CAPACITY", "99999999999", 1);
  EXPECT_EQ(cacheCapacityFromEnv(), size_t{1} << 20);
  ::unsetenv("KOLO_CACHE_CAPACITY");
  ::unsetenv("HOROVOD_CACHE_CAPACITY");
}

TEST(CacheVote, AndWordsCombineLikeCombine) {
  CacheVote a(70);
  CacheVote b(70);
  a.record({CacheState::kHit, 1});
  a.record({CacheState::kHit, 69});
  a.record({CacheState::kInvalid, 3});
  b.record({CacheState::kHit, 1});
  b.hits.set(69);  // a joined rank's vote: holds it without submitting
  b.record({CacheState::kInvalid, 40});
  CacheVote expected = a;
  expected.combine(b);
  std::vector<uint64_t> words = a.andWords();
  std::vector<uint64_t> other = b.andWords();
  for (size_t i = 0; i < words.size(); ++i) words[i] &= other[i];
  CacheVote viaWords = CacheVote::fromAndWords(70, words);
  EXPECT_EQ(viaWords.hits, expected.hits);
  EXPECT_EQ(viaWords.submitted, expected.submitted);
  EXPECT_EQ(viaWords.invalid, expected.invalid);
  EXPECT_EQ(viaWords.commonHits().setBits(), (std::vector<uint32_t>{1, 69}));
  EXPECT_EQ(viaWords.invalid.setBits(), (std::vector<uint32_t>{3, 40}));
  EXPECT_FALSE(CacheVote::fromAndWords(70, std::span(words).first(5)).hits.any());
}

TEST(BitVector, CombinesAcrossRanks) {
  BitVector a(130);
  BitVector b(130);
  for (size_t i : {0, 5, 64, 129}) a.set(i);
  for (size_t i : {5, 64, 100}) b.set(i);
  BitVector both = a;
  both.andWith(b);
  EXPECT_EQ(both.setBits(), (std::vector<uint32_t>{5, 64}));
  BitVector either = a;
  either.orWith(b);
  EXPECT_EQ(either.setBits(), (std::vector<uint32_t>{0, 5, 64, 100, 129}));
  EXPECT_EQ(either.count(), 5u);
  either.subtract(both);
  EXPECT_EQ(either.setBits(), (std::vector<uint32_t>{0, 100, 129}));
  EXPECT_EQ(a.words().size(), 3u);
  a.set(130);  // out of range: ignored
  EXPECT_FALSE(a.test(130));
  a.clear();
  EXPECT_FALSE(a.any());
}

}  // namespace
}  // namespace kolo::core
