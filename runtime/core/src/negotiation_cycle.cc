#include "negotiation_cycle.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "kolo/base/fault_injection.h"
#include "kolo/base/logging.h"
#include "timeline.h"

namespace kolo::core {

Status NegotiationCycle::run(uint64_t cycle, bool shutdownRequested, bool stallAbortVote,
                             std::vector<Response>& ordered, Outcome& outcome) {
  const int64_t started = metrics_ ? PhaseClock::ticks() : 0;
  const DrawnKinds& drawnKinds = drawIncoming();
  // The vote and the word buffers are kept from cycle to cycle: a cycle of cache hits
  // allocates none of them.
  if (vote_.hits.size() != cache_.capacity()) vote_ = cache_.emptyVote();
  vote_.clear();
  RequestList list;
  list.rank = set_.globalRank;
  splitCandidates(vote_, list, shutdownRequested);

  std::vector<std::byte> listBytes;
  if (!list.requests.empty() || list.shutdown) {
    listBytes = serialize(list);
    ControlExchange::sealList(listBytes, cycle);
  }
  vote_.andWordsInto(words_);
  const std::span<std::byte> sealed =
      exchange_.sealVote(words_, listBytes.size(), stallAbortVote, tuning_.proposal(), cycle);
  for (const auto& [kind, count] : drawnKinds) {
    FaultOpScope faultOp(set_.globalRank, opTypeName(kind), count, kNegotiationCount);
    faultPoint(FaultPhase::kNegotiation, sealed);
  }
  KOLO_RETURN_IF_ERROR(exchange_.gatherVotes(cycle));
  tuning_.receive(exchange_.tuningOf(0), cycle);

  listSizes_.assign(set_.members.size(), 0);
  bool anyList = false;
  ordered.clear();
  combineVotes(ordered, anyList, outcome.stallAbort);
  const size_t cached = ordered.size();
  if (anyList) {
    KOLO_RETURN_IF_ERROR(negotiateLists(cycle, listBytes, listSizes_, ordered, outcome));
  }
  if (timeline_) timeline_->cycle(set_.id, cycle, ordered.size());
  if (metrics_) {
    const int64_t took = PhaseClock::ticks() - started;
    metrics_->recordNegotiation(PhaseClock::nanos(took > 0 ? static_cast<uint64_t>(took) : 0),
                                cached, list.requests.size());
  }
  return Status::ok();
}

const NegotiationCycle::DrawnKinds& NegotiationCycle::drawIncoming() {
  DrawnKinds& drawnKinds = drawnKinds_;
  drawnKinds.clear();
  table_.takeIncoming(incoming_);
  for (PendingOpPtr& op : incoming_) {
    if (op->request.op == OpType::kJoin) joinedLocal_ = true;
    op->drawn = true;
    if (timeline_) timeline_->submitted(set_.id, op->request.tensorName, op->submittedAt);
    recording_.drawn(*op);
    auto kind = std::find_if(drawnKinds.begin(), drawnKinds.end(),
                             [&](const auto& k) { return k.first == op->request.op; });
    if (kind == drawnKinds.end()) {
      drawnKinds.emplace_back(op->request.op, 1);
    } else {
      ++kind->second;
    }
    unsent_.push_back(std::move(op));
  }
  return drawnKinds;
}

void NegotiationCycle::splitCandidates(CacheVote& vote, RequestList& list, bool shutdownRequested) {
  if (shutdownRequested && !shutdownSent_) {
    list.shutdown = true;
    shutdownSent_ = true;
  }
  // A pending cache hit stays local and is looked up again next cycle; a name some member
  // already sent to negotiation (the replicas know it) must be negotiated by everyone, so it
  // is sent too.
  keep_.clear();
  for (PendingOpPtr& op : unsent_) {
    const CacheLookup lookup = cache_.lookup(op->request);
    if (lookup.state == CacheState::kHit && !op->stallWarned &&
        !negotiator_.isPending(op->request.tensorName)) {
      vote.record(lookup);
      keep_.push_back(std::move(op));
      continue;
    }
    if (lookup.state == CacheState::kInvalid) vote.record(lookup);
    list.requests.push_back(op->request);
    op->sent = true;
  }
  unsent_.swap(keep_);  // keep_ keeps the old vector's capacity for the next cycle
  retryNeeded_ = false;
  if (joinedLocal_) cache_.voteAsJoined(vote);
}

void NegotiationCycle::combineVotes(std::vector<Response>& hits, bool& anyList, bool& stallAbort) {
  const size_t voteCount = exchange_.voteWordCount();
  words_.assign(voteCount, ~uint64_t{0});
  for (size_t r = 0; r < listSizes_.size(); ++r) {
    const uint64_t* words = exchange_.voteWordsOf(r);
    for (size_t w = 0; w < voteCount; ++w) words_[w] &= words[w];
    listSizes_[r] = exchange_.listBytesOf(r);
    anyList = anyList || listSizes_[r] > 0;
    stallAbort = stallAbort || exchange_.stallAbortOf(r);
  }
  if (metrics_) recordVoteArrivals(words_, anyList);
  vote_.assignAndWords(words_);  // this rank's own vote is sealed: the buffer is reused
  cache_.apply(vote_, hits);
}

Status NegotiationCycle::negotiateLists(uint64_t cycle, std::span<const std::byte> mine,
                                        const std::vector<size_t>& listSizes,
                                        std::vector<Response>& ordered, Outcome& outcome) {
  size_t total = 0;
  for (size_t s : listSizes) total += s;
  std::vector<std::byte> lists(total);
  KOLO_RETURN_IF_ERROR(exchange_.gatherLists(mine, listSizes, lists));
  size_t offset = 0;
  for (size_t r = 0; r < listSizes.size(); ++r) {
    if (listSizes[r] == 0) continue;
    KOLO_RETURN_IF_ERROR(addList(r, std::span(lists).subspan(offset, listSizes[r]), cycle));
    offset += listSizes[r];
  }
  ResponseList negotiated = negotiator_.computeResponses();
  recording_.arrivals(negotiator_, table_);
  if (metrics_) {
    const ArrivalSkew::Stamp now = PhaseClock::nowNanos();
    for (const Response& p : negotiated.responses) {
      for (const std::string& name : p.tensorNames) metrics_->arrivals().requestComplete(name, now);
    }
  }
  for (Response& p : negotiated.responses) {
    // Joins never come from the cache, so this is where a join's response appears.
    if (p.op == OpType::kJoin) {
      joinedLocal_ = false;
      outcome.joinCompleted = true;
    }
    PendingOpPtr local = p.tensorNames.size() == 1 ? table_.find(p.tensorNames[0]) : nullptr;
    cache_.put(p, local ? &local->request : nullptr);
    ordered.push_back(std::move(p));
  }
  outcome.shutdown = negotiated.shutdown;
  return Status::ok();
}

Status NegotiationCycle::addList(size_t member, std::span<const std::byte> sealed, uint64_t cycle) {
  const int32_t rank = set_.members[member];
  KOLO_ASSIGN_OR_RETURN(const std::span<const std::byte> body,
                        exchange_.openList(member, sealed, cycle));
  auto parsed = parseRequestList(body);
  if (!parsed.hasValue()) {
    return parsed.status().withContext(
        fmt::format("process set {}: request list of rank {}", set_.id, rank));
  }
  if (timeline_) {
    for (const Request& q : parsed.value().requests)
      timeline_->arrived(set_.id, q.tensorName, rank);
  }
  if (metrics_) {
    const ArrivalSkew::Stamp now = PhaseClock::nowNanos();
    for (const Request& q : parsed.value().requests) {
      metrics_->arrivals().requestSeen(q.tensorName, member, now);
    }
  }
  Status s = negotiator_.addRequests(rank, parsed.value());
  if (!s.isOk()) KOLO_LOG(kWarning, "coordinator", "{}", s.toString());
  return Status::ok();
}

void NegotiationCycle::settle() {
  std::erase_if(unsent_, [](const PendingOpPtr& op) { return op->taken; });
  for (const PendingOpPtr& op : unsent_) {
    if (cache_.lookup(op->request).state != CacheState::kHit ||
        negotiator_.isPending(op->request.tensorName)) {
      retryNeeded_ = true;
    }
  }
}

void NegotiationCycle::recordVoteArrivals(const std::vector<uint64_t>& anded, bool anyList) {
  // The first third of the vote words are the cache-hit bits (CacheVote::andWords); the
  // members' caches are alike and have never used a bit at or above bitsEverUsed().
  const size_t hitWords = std::min(exchange_.voteWordCount() / 3, (cache_.bitsEverUsed() + 63) / 64);
  voteWords_.resize(set_.members.size());
  for (size_t r = 0; r < voteWords_.size(); ++r) voteWords_[r] = exchange_.voteWordsOf(r);
  ArrivalSkew& arrivals = metrics_->arrivals();
  arrivals.votesSeen(voteWords_, anded.data(), hitWords);
  // Request lists may take an op off the cache path: its waiting votes would never complete.
  if (anyList) arrivals.forgetVotes();
}

void NegotiationCycle::reset() {
  if (metrics_) metrics_->arrivals().forgetAll();
  unsent_.clear();
  negotiator_ = Negotiator(set_.id, set_.members);
  joinedLocal_ = false;
}

}  // namespace kolo::core
