#include "arrival_skew.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>

#include "kolo/collectives/phase_clock.h"
#include "metrics_histogram.h"

namespace kolo::core {

ArrivalSkew::ArrivalSkew(size_t members) : last_(members), lag_(members) {}

void ArrivalSkew::requestSeen(const std::string& name, size_t member, Stamp now) {
  Arrivals& a = byName_.try_emplace(name, last_.size()).first->second;
  if (member < a.size() && a[member] == kNotYet) a[member] = now;
}

void ArrivalSkew::requestComplete(const std::string& name, Stamp now) {
  auto it = byName_.find(name);
  if (it == byName_.end()) return;
  complete(it->second, now);
  byName_.erase(it);
}

void ArrivalSkew::votesSeen(std::span<const uint64_t* const> memberWords, const uint64_t* anded,
                            size_t count, Stamp now) {
  // Unset, the clock is read only when a vote waits or completes one that waited (not in a
  // steady state where every member voted the same ops).
  const auto clock = [&now] {
    if (now == kNotYet) now = PhaseClock::nowNanos();
    return now;
  };
  if (bitWaits_.size() < count * 64) {  // once: a row slot per cache bit, rows made on first wait
    byBit_.resize(count * 64);
    bitWaits_.resize(count * 64, 0);
  }
  for (size_t m = 0; m < memberWords.size(); ++m) {
    for (size_t w = 0; w < count; ++w) {
      for (uint64_t waiting = memberWords[m][w] & ~anded[w]; waiting != 0; waiting &= waiting - 1) {
        Arrivals& a = waitingRow(w * 64 + static_cast<size_t>(std::countr_zero(waiting)));
        if (a[m] == kNotYet) a[m] = clock();
      }
    }
  }
  if (waitingBits_ == 0) return;
  for (size_t w = 0; w < count; ++w) {
    for (uint64_t done = anded[w]; done != 0; done &= done - 1) {
      const size_t bit = w * 64 + static_cast<size_t>(std::countr_zero(done));
      if (bitWaits_[bit] == 0) continue;
      complete(byBit_[bit], clock());
      std::fill(byBit_[bit].begin(), byBit_[bit].end(), kNotYet);
      bitWaits_[bit] = 0;
      --waitingBits_;
    }
  }
}

ArrivalSkew::Arrivals& ArrivalSkew::waitingRow(size_t bit) {
  if (bitWaits_[bit] == 0) {
    byBit_[bit].resize(last_.size());
    bitWaits_[bit] = 1;
    ++waitingBits_;
  }
  return byBit_[bit];
}

void ArrivalSkew::forgetVotes() {
  if (waitingBits_ == 0) return;
  for (size_t bit = 0; bit < byBit_.size(); ++bit) {
    if (bitWaits_[bit] == 0) continue;
    std::fill(byBit_[bit].begin(), byBit_[bit].end(), kNotYet);
    bitWaits_[bit] = 0;
  }
  waitingBits_ = 0;
}

void ArrivalSkew::complete(Arrivals& arrivals, Stamp now) {
  Stamp first = now;
  for (Stamp& t : arrivals) {
    if (t == kNotYet) t = now;  // arrived in the cycle that completed it
    first = std::min(first, t);
  }
  size_t lastMember = 0;
  Stamp worst = 0;
  for (size_t m = 0; m < arrivals.size(); ++m) {
    const Stamp lag = arrivals[m] - first;
    bumpRelaxed(lag_[m], static_cast<uint64_t>(lag));
    if (lag > worst) {
      worst = lag;
      lastMember = m;
    }
  }
  if (worst > 0) bumpRelaxed(last_[lastMember]);
  bumpRelaxed(measured_);
}

std::string ArrivalSkew::summary(std::span<const int32_t> worldRanks) const {
  size_t worst = 0;
  for (size_t m = 1; m < last_.size(); ++m) {
    if (timesLast(m) > timesLast(worst)) worst = m;
  }
  if (last_.empty() || timesLast(worst) == 0) return {};
  const double meanMs = static_cast<double>(lagNanos(worst)) / 1e6 /
                        static_cast<double>(std::max<uint64_t>(measured(), 1));
  return fmt::format(
      "rank {} arrived last in {} of {} collectives, on average {:.2f} ms after the first rank",
      worldRanks[worst], timesLast(worst), measured(), meanMs);
}

}  // namespace kolo::core
