// BitVector: a fixed-size set of cache bits, stored as 64-bit words so the coordinator can
// combine every rank's vector word by word: it allgathers words() and ANDs them locally (ORs
// are sent as complements, see CacheVote).
// Thread: caller's (plain value).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace kolo::core {

class BitVector {
 public:
  BitVector() = default;
  explicit BitVector(size_t bits) : bits_(bits), words_((bits + 63) / 64, 0) {}

  size_t size() const { return bits_; }
  bool test(size_t i) const { return i < bits_ && (words_[i / 64] >> (i % 64)) & 1; }
  void set(size_t i) {
    if (i < bits_) words_[i / 64] |= uint64_t{1} << (i % 64);
  }
  void reset(size_t i) {
    if (i < bits_) words_[i / 64] &= ~(uint64_t{1} << (i % 64));
  }
  void clear() { std::fill(words_.begin(), words_.end(), 0); }
  // Zeroes the bits past size() in the last word (after writing complemented words()).
  void trim() {
    if (bits_ % 64 != 0) words_.back() &= (uint64_t{1} << (bits_ % 64)) - 1;
  }

  // Vectors of every rank have the same size (the cache capacity); a shorter operand's
  // missing bits count as 0.
  void andWith(const BitVector& other) {
    for (size_t w = 0; w < words_.size(); ++w) {
      words_[w] &= w < other.words_.size() ? other.words_[w] : 0;
    }
  }
  void orWith(const BitVector& other) {
    for (size_t w = 0; w < words_.size() && w < other.words_.size(); ++w) {
      words_[w] |= other.words_[w];
    }
  }
  // this &= ~other: hits that another rank found invalid are not hits.
  void subtract(const BitVector& other) {
    for (size_t w = 0; w < words_.size() && w < other.words_.size(); ++w) {
      words_[w] &= ~other.words_[w];
    }
  }

  bool any() const {
    return std::any_of(words_.begin(), words_.end(), [](uint64_t w) { return w != 0; });
  }
  size_t count() const {
    size_t n = 0;
    for (uint64_t w : words_) n += static_cast<size_t>(std::popcount(w));
    return n;
  }
  // Calls f(bit) for every set bit, ascending.
  template <typename F>
  void forEachSetBit(F&& f) const {
    for (size_t w = 0; w < words_.size(); ++w) forEachBitOfWord(w, words_[w], f);
  }
  // Set bits, ascending.
  std::vector<uint32_t> setBits() const {
    std::vector<uint32_t> out;
    forEachSetBit([&](uint32_t bit) { out.push_back(bit); });
    return out;
  }
  // Calls f(bit) for every set bit of `word`, word number `w` of a vector.
  template <typename F>
  static void forEachBitOfWord(size_t w, uint64_t word, F&& f) {
    for (; word != 0; word &= word - 1) {
      f(static_cast<uint32_t>(w * 64 + static_cast<size_t>(std::countr_zero(word))));
    }
  }

  std::span<uint64_t> words() { return words_; }
  std::span<const uint64_t> words() const { return words_; }
  bool operator==(const BitVector&) const = default;

 private:
  size_t bits_ = 0;
  std::vector<uint64_t> words_;
};

}  // namespace kolo::core
