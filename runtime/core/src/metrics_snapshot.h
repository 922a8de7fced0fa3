// One rank's live metrics as Prometheus text: every process set's SetMetrics and the per-peer
// transport bytes, each sample labelled with the rank (and the process set, collective or peer).
// The families and their labels are listed in docs/ARCHITECTURE.md ("Live metrics").
// Thread: any (reads the counters with relaxed loads).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "kolo/collectives/peer_traffic.h"
#include "set_metrics.h"

namespace kolo::core {

// `traffic` is indexed by world rank (linkTraffic of the world); empty when the transports keep
// no per-peer counters.
std::string renderRankMetrics(int32_t rank, std::span<const SetMetrics* const> sets,
                              std::span<const PeerTraffic> traffic);

}  // namespace kolo::core
