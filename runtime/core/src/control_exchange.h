// ControlExchange: moves one cycle's control messages between the members of a process set
// and proves each member's intact. Every cycle: one allgather of fixed-size vote words (the
// cache vote, the size of the member's request list, its stall-abort flag, and the settings
// rank 0 runs the cycle with, from SetTuning); only when some
// member has uncached requests, one allgatherv of the serialized request lists.
//
// Every control message carries a checksum (FNV-1a over its bytes, seeded with the cycle): a
// message damaged in memory or on the wire fails the cycle on every member with the same
// verdict (FailureAgreement::corruptMessage) instead of steering the Negotiator replicas
// apart. Tensor payloads carry none (docs/RELIABILITY.md).
// Thread: coordinator.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "failure_agreement.h"
#include "kolo/base/status.h"
#include "kolo/collectives/communicator.h"
#include "kolo/core/tuned_settings.h"
#include "set_identity.h"

namespace kolo::core {

class ControlExchange {
 public:
  ControlExchange(Communicator& comm, const SetIdentity& set, FailureAgreement& agreement)
      : comm_(comm), set_(set), agreement_(agreement) {}

  // This rank's vote: `voteWords` (the cache vote's AND words), the byte size of its sealed
  // request list and its stall-abort flag, then their checksum. Returns the sealed bytes, which
  // fault injection may damage before they leave.
  std::span<std::byte> sealVote(std::span<const uint64_t> voteWords, size_t listBytes,
                                bool stallAbort, const TunedSettingsWords& tuning, uint64_t cycle);
  // Allgathers the sealed votes; a member whose words fail their checksum fails the cycle.
  Status gatherVotes(uint64_t cycle);
  // Of the last gathered votes: the cache vote words of member `r` (voteWordCount() of them),
  // the size of its sealed request list and its stall-abort flag.
  size_t voteWordCount() const { return wordsPerMember_ - kTrailerWords; }
  const uint64_t* voteWordsOf(size_t r) const { return all_.data() + r * wordsPerMember_; }
  size_t listBytesOf(size_t r) const {
    return static_cast<size_t>(voteWordsOf(r)[voteWordCount()]);
  }
  bool stallAbortOf(size_t r) const { return voteWordsOf(r)[voteWordCount() + 1] != 0; }
  TunedSettingsWords tuningOf(size_t r) const {
    TunedSettingsWords words;
    std::copy_n(voteWordsOf(r) + voteWordCount() + 2, kTunedSettingsWords, words.begin());
    return words;
  }

  // Appends the checksum to a serialized RequestList.
  static void sealList(std::vector<std::byte>& list, uint64_t cycle);
  // Allgathers the sealed lists (`sizes`: each member's, from its vote) into `all`.
  Status gatherLists(std::span<const std::byte> mine, const std::vector<size_t>& sizes,
                     std::vector<std::byte>& all);
  // The body of member `r`'s sealed list; fails the cycle if its checksum does not match.
  Expected<std::span<const std::byte>> openList(size_t r, std::span<const std::byte> sealed,
                                                uint64_t cycle);

 private:
  // After the vote words: list size, stall-abort flag, tuned settings, checksum.
  static constexpr size_t kTrailerWords = 3 + kTunedSettingsWords;

  Communicator& comm_;
  const SetIdentity& set_;
  FailureAgreement& agreement_;
  std::vector<uint64_t> mine_;  // this rank's sealed vote
  std::vector<uint64_t> all_;   // every member's, in member order
  size_t wordsPerMember_ = kTrailerWords;
};

}  // namespace kolo::core
