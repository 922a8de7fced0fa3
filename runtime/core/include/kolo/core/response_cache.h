// ResponseCache: the steady-state fast path. A tensor negotiated once keeps its response under
// a cache bit; in later cycles each rank votes with the bits of its locally ready, unchanged
// tensors, the coordinator combines the votes across ranks (one allgather of the vote words,
// ANDed locally, see CacheVote), and the bits every rank holds become responses without
// gathering and negotiating the requests.
//
// Every rank's cache must stay identical (same bit for the same name), so it only changes
// through agreed events, applied in the same order on every rank, once per cycle:
//   1. apply(combinedVote)  -- erases what any rank found invalid, returns the common hits
//   2. put(response, local) for each negotiated response, in ResponseList order
// Lookups are valid for one cycle only: a bit may be reassigned in step 2, so a pending
// request is looked up again every cycle until it completes or goes to negotiation.
// Capacity 0 disables the cache (every lookup misses). LRU eviction in step 2 is driven by
// the same sequence everywhere, so it evicts the same entry on every rank. One cache per
// process set, like the Negotiator.
// Thread: coordinator (plain classes, no locking).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kolo/core/bit_vector.h"
#include "kolo/core/request.h"
#include "kolo/core/response.h"

namespace kolo::core {

inline constexpr size_t kDefaultCacheCapacity = 1024;
// KOLO_CACHE_CAPACITY (alias HOROVOD_CACHE_CAPACITY), default 1024; negative reads as 0,
// more than 2^20 as 2^20.
size_t cacheCapacityFromEnv();

enum class CacheState : uint8_t {
  kMiss,     // never negotiated (or evicted): send the request to negotiation
  kHit,      // same signature as when negotiated: vote for `bit`, keep the request local
  kInvalid,  // negotiated under a different signature: vote to erase `bit` and send the
             // request to negotiation
};

struct CacheLookup {
  CacheState state = CacheState::kMiss;
  uint32_t bit = 0;
};

// One rank's vote in a cycle, and the rule that combines votes. A hit runs only if every rank
// holds it (AND of `hits`), at least one rank really submitted it (OR of `submitted`: when
// every rank has joined, nobody did) and no rank found its entry stale (OR of `invalid`).
// andWords()/fromAndWords() turn the two ORs into ANDs of complements, so one bitwise AND of
// every rank's words (3 x capacity bits each, allgathered) combines everything.
struct CacheVote {
  CacheVote() = default;
  explicit CacheVote(size_t bits) : hits(bits), submitted(bits), invalid(bits) {}

  BitVector hits;
  BitVector submitted;
  BitVector invalid;

  // Records this rank's lookup of a request it submitted.
  void record(const CacheLookup& lookup);
  // Folds in another rank's vote (hits AND, submitted and invalid OR).
  void combine(const CacheVote& other);
  // Bits that run from the cache this cycle: hits & submitted & ~invalid.
  BitVector commonHits() const;
  // Calls f(bit) for each of commonHits(), ascending, without building it.
  template <typename F>
  void forEachCommonHit(F&& f) const {
    const auto h = hits.words(), s = submitted.words(), x = invalid.words();
    for (size_t w = 0; w < h.size() && w < s.size() && w < x.size(); ++w) {
      BitVector::forEachBitOfWord(w, h[w] & s[w] & ~x[w], f);
    }
  }
  // No bit set (keeps the size): a vote reused from cycle to cycle.
  void clear() {
    hits.clear();
    submitted.clear();
    invalid.clear();
  }

  // [hits][~submitted][~invalid]: AND-combining these words across ranks equals combine().
  std::vector<uint64_t> andWords() const;
  // The same words, into `out` (cleared first; its capacity is reused).
  void andWordsInto(std::vector<uint64_t>& out) const;
  // `words` holds 3 x ceil(bits / 64) words; anything shorter yields an empty vote.
  static CacheVote fromAndWords(size_t bits, std::span<const uint64_t> words);
  // fromAndWords into this vote, which keeps its size.
  void assignAndWords(std::span<const uint64_t> words);
};

class ResponseCache {
 public:
  explicit ResponseCache(size_t capacity);

  size_t capacity() const { return capacity_; }
  size_t size() const { return byName_.size(); }
  // Every bit ever given to an entry is below this (bits are reused lowest first).
  size_t bitsEverUsed() const { return nextUnused_; }
  CacheVote emptyVote() const { return CacheVote(capacity_); }

  // Joins and grouped allreduces always negotiate: a group must complete together, which a
  // partial hit could break.
  static bool cacheable(const Request& request);

  CacheLookup lookup(const Request& local) const;

  // The vote of a rank that has joined: a hit for entries a joined rank takes part in
  // (allreduce with sum/average, barrier) and an invalidation for the rest, which then
  // renegotiate and fail in every Negotiator replica with a message naming the joined rank.
  void voteAsJoined(CacheVote& vote) const;

  // Step 1: erases the entries any rank found invalid and returns the responses of the common
  // hits in bit order, each becoming most recently used.
  std::vector<Response> apply(const CacheVote& combined);
  // The same, appending the responses to `out`.
  void apply(const CacheVote& combined, std::vector<Response>& out);
  // Step 2: records a negotiated response. `local` is this rank's request for it, or null when
  // this rank has none (it had joined): a later lookup of the name then reads as kInvalid.
  // Error, join, grouped and multi-name responses are not cached; that is decided by the
  // response alone, so every rank skips the same ones.
  void put(const Response& response, const Request* local);

  const Response* response(uint32_t bit) const;
  std::optional<uint32_t> bitOf(const std::string& name) const;

 private:
  struct Entry {
    Response response;
    std::optional<Request> signature;
    std::list<uint32_t>::iterator lruPosition;
  };

  void remove(uint32_t bit);
  uint32_t allocateBit();

  size_t capacity_;
  std::vector<std::optional<Entry>> entries_;  // index: bit
  std::unordered_map<std::string, uint32_t> byName_;
  std::list<uint32_t> lru_;  // front: least recently used
  // Freed bits are reused lowest first, so assignment depends only on the event sequence.
  std::priority_queue<uint32_t, std::vector<uint32_t>, std::greater<>> freeBits_;
  uint32_t nextUnused_ = 0;
};

}  // namespace kolo::core
