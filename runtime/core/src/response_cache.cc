#include "kolo/core/response_cache.h"

#include <algorithm>

#include "kolo/base/logging.h"
#include "kolo/base/settings.h"

namespace kolo::core {
namespace {

bool cacheableResponse(const Response& p) {
  return !p.isError() && p.op != OpType::kJoin && p.tensorNames.size() == 1 &&
         p.groupId == kNoGroup;
}

bool joinedRankTakesPart(const Response& p) {
  if (p.op == OpType::kBarrier) return true;
  return p.op == OpType::kAllreduce &&
         (p.reduceOp == ReduceOp::kSum || p.reduceOp == ReduceOp::kAverage);
}

}  // namespace

size_t cacheCapacityFromEnv() {
  // Bits cost capacity / 8 bytes of every cycle's allreduce (x3) and an entry slot each;
  // a million is far beyond any model's tensor count.
  constexpr int64_t kMaxCapacity = int64_t{1} << 20;
  int64_t v = settingInt("KOLO_CACHE_CAPACITY");
  if (v > kMaxCapacity) {
    KOLO_LOG(kWarning, "cache", "KOLO_CACHE_CAPACITY={} is above the limit; using {}", v,
             kMaxCapacity);
    v = kMaxCapacity;
  }
  return v < 0 ? 0 : static_cast<size_t>(v);
}

void CacheVote::record(const CacheLookup& lookup) {
  if (lookup.state == CacheState::kHit) {
    hits.set(lookup.bit);
    submitted.set(lookup.bit);
  } else if (lookup.state == CacheState::kInvalid) {
    invalid.set(lookup.bit);
  }
}

void CacheVote::combine(const CacheVote& other) {
  hits.andWith(other.hits);
  submitted.orWith(other.submitted);
  invalid.orWith(other.invalid);
}

BitVector CacheVote::commonHits() const {
  BitVector common(hits.size());
  forEachCommonHit([&](uint32_t bit) { common.set(bit); });
  return common;
}

std::vector<uint64_t> CacheVote::andWords() const {
  std::vector<uint64_t> out;
  andWordsInto(out);
  return out;
}

void CacheVote::andWordsInto(std::vector<uint64_t>& out) const {
  out.assign(hits.words().begin(), hits.words().end());
  for (uint64_t w : submitted.words()) out.push_back(~w);
  for (uint64_t w : invalid.words()) out.push_back(~w);
}

CacheVote CacheVote::fromAndWords(size_t bits, std::span<const uint64_t> words) {
  CacheVote vote(bits);
  vote.assignAndWords(words);
  return vote;
}

void CacheVote::assignAndWords(std::span<const uint64_t> words) {
  const size_t n = hits.words().size();
  if (3 * n > words.size()) {  // too short: an empty vote
    clear();
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    hits.words()[i] = words[i];
    submitted.words()[i] = ~words[n + i];
    invalid.words()[i] = ~words[2 * n + i];
  }
  hits.trim();
  submitted.trim();
  invalid.trim();
}

ResponseCache::ResponseCache(size_t capacity) : capacity_(capacity), entries_(capacity) {}

bool ResponseCache::cacheable(const Request& request) {
  return request.op != OpType::kJoin && request.groupId == kNoGroup;
}

CacheLookup ResponseCache::lookup(const Request& local) const {
  if (!cacheable(local)) return {};
  auto it = byName_.find(local.tensorName);
  if (it == byName_.end()) return {};
  const Entry& entry = *entries_[it->second];
  bool same = entry.signature && entry.signature->sameSignature(local);
  return {same ? CacheState::kHit : CacheState::kInvalid, it->second};
}

void ResponseCache::voteAsJoined(CacheVote& vote) const {
  for (const auto& [name, bit] : byName_) {
    (joinedRankTakesPart(entries_[bit]->response) ? vote.hits : vote.invalid).set(bit);
  }
}

std::vector<Response> ResponseCache::apply(const CacheVote& combined) {
  std::vector<Response> out;
  apply(combined, out);
  return out;
}

void ResponseCache::apply(const CacheVote& combined, std::vector<Response>& out) {
  combined.invalid.forEachSetBit([&](uint32_t bit) {
    if (bit < entries_.size() && entries_[bit]) remove(bit);
  });
  combined.forEachCommonHit([&](uint32_t bit) {
    if (bit >= entries_.size() || !entries_[bit]) return;
    Entry& entry = *entries_[bit];
    lru_.splice(lru_.end(), lru_, entry.lruPosition);
    out.push_back(entry.response);
  });
}

void ResponseCache::put(const Response& response, const Request* local) {
  if (capacity_ == 0 || !cacheableResponse(response)) return;
  const std::string& name = response.tensorNames.front();
  if (auto it = byName_.find(name); it != byName_.end()) remove(it->second);
  if (byName_.size() == capacity_) remove(lru_.front());
  uint32_t bit = allocateBit();
  lru_.push_back(bit);
  entries_[bit] =
      Entry{response, local ? std::optional<Request>(*local) : std::nullopt, std::prev(lru_.end())};
  byName_.emplace(name, bit);
}

const Response* ResponseCache::response(uint32_t bit) const {
  if (bit >= entries_.size() || !entries_[bit]) return nullptr;
  return &entries_[bit]->response;
}

std::optional<uint32_t> ResponseCache::bitOf(const std::string& name) const {
  auto it = byName_.find(name);
  if (it == byName_.end()) return std::nullopt;
  return it->second;
}

void ResponseCache::remove(uint32_t bit) {
  Entry& entry = *entries_[bit];
  byName_.erase(entry.response.tensorNames.front());
  lru_.erase(entry.lruPosition);
  entries_[bit].reset();
  freeBits_.push(bit);
}

uint32_t ResponseCache::allocateBit() {
  if (!freeBits_.empty()) {
    uint32_t bit = freeBits_.top();
    freeBits_.pop();
    return bit;
  }
  return nextUnused_++;
}

}  // namespace kolo::core
