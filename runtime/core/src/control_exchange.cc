#include "control_exchange.h"

#include <cstring>

#include "kolo/base/fault_injection.h"
#include "kolo/collectives/collectives.h"

namespace kolo::core {
namespace {

uint64_t controlChecksum(std::span<const std::byte> bytes, uint64_t cycle) {
  uint64_t h = 1469598103934665603ULL ^ (cycle * 0x9e3779b97f4a7c15ULL);
  for (std::byte b : bytes) h = (h ^ static_cast<uint64_t>(b)) * 1099511628211ULL;
  return h;
}

std::span<const std::byte> wordBytes(const uint64_t* words, size_t count) {
  return {reinterpret_cast<const std::byte*>(words), count * sizeof(uint64_t)};
}

}  // namespace

std::span<std::byte> ControlExchange::sealVote(std::span<const uint64_t> voteWords,
                                               size_t listBytes, bool stallAbort,
                                               const TunedSettingsWords& tuning, uint64_t cycle) {
  mine_.assign(voteWords.begin(), voteWords.end());  // keeps its capacity from cycle to cycle
  mine_.push_back(listBytes);
  mine_.push_back(stallAbort ? 1 : 0);
  mine_.insert(mine_.end(), tuning.begin(), tuning.end());
  mine_.push_back(controlChecksum(wordBytes(mine_.data(), mine_.size()), cycle));
  wordsPerMember_ = mine_.size();
  return {reinterpret_cast<std::byte*>(mine_.data()), mine_.size() * sizeof(uint64_t)};
}

Status ControlExchange::gatherVotes(uint64_t cycle) {
  const size_t n = set_.members.size();
  all_.resize(wordsPerMember_ * n);
  {
    FaultOpScope internal(set_.globalRank, "");  // the negotiation's collectives are not user ops
    KOLO_RETURN_IF_ERROR(
        coll::allgather(comm_, mine_.data(), all_.data(), wordsPerMember_ * sizeof(uint64_t)));
  }
  for (size_t r = 0; r < n; ++r) {
    const uint64_t* words = voteWordsOf(r);
    if (controlChecksum(wordBytes(words, wordsPerMember_ - 1), cycle) !=
        words[wordsPerMember_ - 1]) {
      return agreement_.corruptMessage(set_.members[r], "cache votes");
    }
  }
  return Status::ok();
}

void ControlExchange::sealList(std::vector<std::byte>& list, uint64_t cycle) {
  const uint64_t sum = controlChecksum(list, cycle);
  const auto* sumBytes = reinterpret_cast<const std::byte*>(&sum);
  list.insert(list.end(), sumBytes, sumBytes + sizeof sum);
}

Status ControlExchange::gatherLists(std::span<const std::byte> mine,
                                    const std::vector<size_t>& sizes, std::vector<std::byte>& all) {
  FaultOpScope internal(set_.globalRank, "");
  return coll::allgatherv(comm_, mine.data(), all.data(), sizes);
}

Expected<std::span<const std::byte>> ControlExchange::openList(size_t r,
                                                               std::span<const std::byte> sealed,
                                                               uint64_t cycle) {
  std::span<const std::byte> body = sealed;
  uint64_t sum = 0;
  if (body.size() >= sizeof sum) {
    std::memcpy(&sum, body.data() + body.size() - sizeof sum, sizeof sum);
    body = body.first(body.size() - sizeof sum);
  }
  if (controlChecksum(body, cycle) != sum) {
    return agreement_.corruptMessage(set_.members[r], "request list");
  }
  return body;
}

}  // namespace kolo::core
