// One coordinator cycle of a ProcessSetRuntime (see process_set_runtime.h for the protocol).
#include <algorithm>
#include <cstring>

#include "kolo/base/fault_injection.h"
#include "kolo/base/job_abort.h"
#include "kolo/base/logging.h"
#include "kolo/collectives/collectives.h"
#include "process_set_runtime.h"
#include "timeline.h"

namespace kolo::core {
namespace {

// Control messages carry a checksum (FNV-1a over their bytes, seeded with the cycle): a message
// damaged in memory or on the wire fails the cycle on every rank with the same verdict instead
// of steering the replicas apart. Tensor payloads carry none (docs/RELIABILITY.md).
uint64_t controlChecksum(std::span<const std::byte> bytes, uint64_t cycle) {
  uint64_t h = 1469598103934665603ULL ^ (cycle * 0x9e3779b97f4a7c15ULL);
  for (std::byte b : bytes) h = (h ^ static_cast<uint64_t>(b)) * 1099511628211ULL;
  return h;
}

std::span<const std::byte> wordBytes(const uint64_t* words, size_t count) {
  return {reinterpret_cast<const std::byte*>(words), count * sizeof(uint64_t)};
}

}  // namespace

Status ProcessSetRuntime::corruptMessage(int32_t sender, const char* what) {
  // Every member computes this same verdict; publishing it makes it the job's (kolorun's own
  // record of the first rank to exit would otherwise name whoever reported first).
  PeerFailure failure;
  failure.rank = sender;
  failure.reason = fmt::format("sent a corrupt control message ({}: bad checksum)", what);
  failure.reporter = fmt::format("rank {}", globalRank_);
  publishJobAbort(failure);
  return failure.toStatus();
}

Status ProcessSetRuntime::runCycle() {
  const size_t n = members_.size();
  // Ops this cycle draws, by kind, for KOLO_FAULT_INJECT's phase=negotiation.
  std::vector<std::pair<OpType, int64_t>> drawnKinds;
  for (PendingOpPtr& op : table_.takeIncoming()) {
    if (op->request.op == OpType::kJoin) joinedLocal_ = true;
    op->drawn = true;
    if (timeline_) timeline_->submitted(id_, op->request.tensorName, op->submittedAt);
    recordDrawn(*op);
    auto kind = std::find_if(drawnKinds.begin(), drawnKinds.end(),
                             [&](const auto& k) { return k.first == op->request.op; });
    if (kind == drawnKinds.end()) {
      drawnKinds.emplace_back(op->request.op, 1);
    } else {
      ++kind->second;
    }
    unsent_.push_back(std::move(op));
  }

  // (1) This rank's vote and its uncached requests. A pending cache hit stays local and is
  // looked up again next cycle; a name some member already sent to negotiation (the
  // replicas know it) must be negotiated by everyone, so it is sent too.
  CacheVote vote = cache_.emptyVote();
  RequestList list;
  list.rank = globalRank_;
  if (shutdownRequested_.load(std::memory_order_acquire) && !shutdownSent_) {
    list.shutdown = true;
    shutdownSent_ = true;
  }
  std::vector<PendingOpPtr> keep;
  for (PendingOpPtr& op : unsent_) {
    const CacheLookup lookup = cache_.lookup(op->request);
    if (lookup.state == CacheState::kHit && !op->stallWarned &&
        !negotiator_.isPending(op->request.tensorName)) {
      vote.record(lookup);
      keep.push_back(std::move(op));
      continue;
    }
    if (lookup.state == CacheState::kInvalid) vote.record(lookup);
    list.requests.push_back(op->request);
    op->sent = true;
  }
  unsent_ = std::move(keep);
  retryNeeded_ = false;
  if (joinedLocal_) cache_.voteAsJoined(vote);

  std::vector<std::byte> listBytes;
  if (!list.requests.empty() || list.shutdown) {
    listBytes = serialize(list);
    const uint64_t sum = controlChecksum(listBytes, cycle_);
    const auto* sumBytes = reinterpret_cast<const std::byte*>(&sum);
    listBytes.insert(listBytes.end(), sumBytes, sumBytes + sizeof sum);
  }
  voteWords_ = vote.andWords();
  voteWords_.push_back(listBytes.size());
  voteWords_.push_back(stallAbortLocal_ ? 1 : 0);
  voteWords_.push_back(controlChecksum(wordBytes(voteWords_.data(), voteWords_.size()), cycle_));
  stallAbortLocal_ = false;
  const size_t wordsPerRank = voteWords_.size();
  const size_t voteCount = wordsPerRank - 3;
  for (const auto& [kind, count] : drawnKinds) {
    FaultOpScope faultOp(globalRank_, std::string(opTypeName(kind)).c_str(), count,
                         kNegotiationCount);
    faultPoint(FaultPhase::kNegotiation,
               {reinterpret_cast<std::byte*>(voteWords_.data()), wordsPerRank * sizeof(uint64_t)});
  }
  allWords_.resize(wordsPerRank * n);
  {
    FaultOpScope internal(globalRank_, "");  // the negotiation's collectives are not user ops
    KOLO_RETURN_IF_ERROR(coll::allgather(*comm_, voteWords_.data(), allWords_.data(),
                                         wordsPerRank * sizeof(uint64_t)));
  }
  for (size_t r = 0; r < n; ++r) {
    const uint64_t* words = allWords_.data() + r * wordsPerRank;
    if (controlChecksum(wordBytes(words, wordsPerRank - 1), cycle_) != words[wordsPerRank - 1]) {
      return corruptMessage(members_[r], "cache votes");
    }
  }

  // (2) AND the votes; negotiate what some member could not take from the cache.
  std::vector<uint64_t> anded(voteCount, ~uint64_t{0});
  std::vector<size_t> listSizes(n);
  bool anyList = false;
  bool stallAbort = false;
  for (size_t r = 0; r < n; ++r) {
    const uint64_t* words = allWords_.data() + r * wordsPerRank;
    for (size_t w = 0; w < voteCount; ++w) anded[w] &= words[w];
    listSizes[r] = static_cast<size_t>(words[voteCount]);
    anyList = anyList || listSizes[r] > 0;
    stallAbort = stallAbort || words[voteCount + 1] != 0;
  }
  std::vector<Response> ordered = cache_.apply(CacheVote::fromAndWords(cache_.capacity(), anded));
  if (anyList) {
    size_t total = 0;
    for (size_t s : listSizes) total += s;
    std::vector<std::byte> lists(total);
    {
      FaultOpScope internal(globalRank_, "");
      KOLO_RETURN_IF_ERROR(coll::allgatherv(*comm_, listBytes.data(), lists.data(), listSizes));
    }
    size_t offset = 0;
    for (size_t r = 0; r < n; ++r) {
      if (listSizes[r] == 0) continue;
      auto body = std::span(lists).subspan(offset, listSizes[r]);
      offset += listSizes[r];
      uint64_t sum = 0;
      if (body.size() >= sizeof sum) {
        std::memcpy(&sum, body.data() + body.size() - sizeof sum, sizeof sum);
        body = body.first(body.size() - sizeof sum);
      }
      if (controlChecksum(body, cycle_) != sum) return corruptMessage(members_[r], "request list");
      auto parsed = parseRequestList(body);
      if (!parsed.hasValue()) {
        return parsed.status().withContext(
            fmt::format("process set {}: request list of rank {}", id_, members_[r]));
      }
      if (timeline_) {
        for (const Request& q : parsed.value().requests) {
          timeline_->arrived(id_, q.tensorName, members_[r]);
        }
      }
      Status s = negotiator_.addRequests(members_[r], parsed.value());
      if (!s.isOk()) KOLO_LOG(kWarning, "coordinator", "{}", s.toString());
    }
    ResponseList negotiated = negotiator_.computeResponses();
    recordArrivals();
    for (Response& p : negotiated.responses) {
      PendingOpPtr local = p.tensorNames.size() == 1 ? table_.find(p.tensorNames[0]) : nullptr;
      cache_.put(p, local ? &local->request : nullptr);
      ordered.push_back(std::move(p));
    }
    if (negotiated.shutdown) {
      std::lock_guard lock(stateMutex_);
      stopped_ = true;
    }
  }
  if (timeline_) timeline_->cycle(id_, cycle_, ordered.size());

  // (3) Run them.
  KOLO_RETURN_IF_ERROR(executeResponses(ordered));
  if (stallAbort) abortStalled();
  std::erase_if(unsent_, [](const PendingOpPtr& op) { return op->taken; });
  for (const PendingOpPtr& op : unsent_) {
    if (cache_.lookup(op->request).state != CacheState::kHit ||
        negotiator_.isPending(op->request.tensorName)) {
      retryNeeded_ = true;
    }
  }
  return Status::ok();
}

Status ProcessSetRuntime::executeResponses(std::vector<Response>& ordered) {
  if (ordered.empty()) return Status::ok();
  BatchOps ops(ordered.size());
  for (size_t i = 0; i < ordered.size(); ++i) {
    const Response& p = ordered[i];
    ops[i].resize(p.tensorNames.size());
    for (size_t t = 0; t < p.tensorNames.size(); ++t) {
      PendingOpPtr op = table_.take(p.tensorNames[t]);
      if (op) op->taken = true;
      ops[i][t] = std::move(op);
    }
    if (p.op == OpType::kJoin) {
      joinedLocal_ = false;
      joinPending_.store(false, std::memory_order_release);
    }
    if (p.isError()) {
      const Status error(p.errorCode, p.errorMessage);
      for (const PendingOpPtr& op : ops[i]) {
        record(op, FlightRecorder::State::kFailed, error);
        if (op) op->state->complete(error);
      }
    }
  }
  const std::vector<FusedBatch> batches = planner_.plan(ordered);
  for (size_t b = 0; b < batches.size(); ++b) {
    const Clock::time_point start = Clock::now();
    for (const FusedEntry& e : batches[b].entries) {
      record(ops[e.response][e.tensor], FlightRecorder::State::kRunning);
    }
    // Numbers the batch's tensors for KOLO_FAULT_INJECT in the order every rank runs them.
    FaultOpScope faultOp(globalRank_, std::string(opTypeName(batches[b].op)).c_str(),
                         static_cast<int64_t>(batches[b].entries.size()));
    Status s = executor_.run(batches[b], ordered, ops);
    for (const FusedEntry& e : batches[b].entries) {
      record(ops[e.response][e.tensor],
             s.isOk() ? FlightRecorder::State::kDone : FlightRecorder::State::kFailed, s);
    }
    if (timeline_) {
      timeline_->batch(id_, batches[b], ordered, start, Clock::now(), executor_.lastPhases().packed,
                       executor_.lastPhases().reduced);
    }
    if (!s.isOk()) {
      // The members may no longer be in step: fail what is left of this cycle and stop.
      for (size_t rest = b + 1; rest < batches.size(); ++rest) {
        for (const FusedEntry& e : batches[rest].entries) {
          if (const PendingOpPtr& op = ops[e.response][e.tensor]) {
            record(op, FlightRecorder::State::kFailed, s);
            op->state->complete(s);
          }
        }
      }
      return s;
    }
  }
  return Status::ok();
}

}  // namespace kolo::core
