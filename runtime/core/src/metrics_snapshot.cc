#include "metrics_snapshot.h"

#include <fmt/format.h>

#include "metrics_text.h"

namespace kolo::core {
namespace {

using CounterOf = std::atomic<uint64_t> OpMetrics::*;

struct OpCounter {
  const char* name;
  const char* help;
  CounterOf field;
};

constexpr OpCounter kOpCounters[] = {
    {"kolo_ops_total", "tensors whose collective completed, per process set and collective",
     &OpMetrics::ops},
    {"kolo_ops_failed_total", "tensors whose collective failed", &OpMetrics::failed},
    {"kolo_bytes_total", "payload bytes of the completed tensors on this rank", &OpMetrics::bytes},
    {"kolo_bus_bytes_total",
     "payload bytes times the collective's bus factor (allreduce 2(n-1)/n, as nccl-tests)",
     &OpMetrics::busBytes},
};

bool seen(const OpMetrics& m) {
  return m.ops.load(std::memory_order_relaxed) + m.failed.load(std::memory_order_relaxed) > 0;
}

double seconds(uint64_t nanos) {
  return static_cast<double>(nanos) / 1e9;
}

class RankRenderer {
 public:
  RankRenderer(int32_t rank, std::span<const SetMetrics* const> sets) : rank_(rank), sets_(sets) {}

  // One family with a sample per (set, collective that ran).
  template <typename Emit>
  void perOp(const char* name, const char* type, const char* help, Emit emit) {
    out_.family(name, type, help);
    for (const SetMetrics* set : sets_) {
      for (int t = 0; t < kOpTypeCount; ++t) {
        const auto op = static_cast<OpType>(t);
        const OpMetrics& m = set->op(op);
        if (!seen(m)) continue;
        emit(fmt::format("rank=\"{}\",process_set=\"{}\",op=\"{}\"", rank_, set->processSet(),
                         opTypeName(op)),
             m);
      }
    }
  }
  // One family with a sample per set.
  template <typename Emit>
  void perSet(const char* name, const char* type, const char* help, Emit emit) {
    out_.family(name, type, help);
    for (const SetMetrics* set : sets_) {
      emit(fmt::format("rank=\"{}\",process_set=\"{}\"", rank_, set->processSet()), *set);
    }
  }
  ExpositionWriter& out() { return out_; }

 private:
  const int32_t rank_;
  std::span<const SetMetrics* const> sets_;
  ExpositionWriter out_;
};

void renderOps(RankRenderer& r) {
  ExpositionWriter& out = r.out();
  for (const OpCounter& c : kOpCounters) {
    r.perOp(c.name, "counter", c.help, [&](const std::string& labels, const OpMetrics& m) {
      out.sample(c.name, labels, (m.*c.field).load(std::memory_order_relaxed));
    });
  }
  r.perOp("kolo_collective_seconds_total", "counter", "time the collectives ran (fused batches)",
          [&](const std::string& labels, const OpMetrics& m) {
            out.sample("kolo_collective_seconds_total", labels,
                       seconds(m.collectiveNanos.load(std::memory_order_relaxed)));
          });
  r.perOp("kolo_phase_seconds_total", "counter",
          "collective time by phase: copy (slots, fusion buffer), reduce (kernels), transfer "
          "(waiting for and moving peers' data), other (the rest); the four add up to "
          "kolo_collective_seconds_total",
          [&](const std::string& labels, const OpMetrics& m) {
            for (size_t p = 0; p < m.phaseNanos.size(); ++p) {
              out.sample("kolo_phase_seconds_total",
                         fmt::format("{},phase=\"{}\"", labels, kPhaseLabels[p]),
                         seconds(m.phaseNanos[p].load(std::memory_order_relaxed)));
            }
          });
  r.perOp("kolo_busbw_bytes_per_second", "gauge",
          "bus bandwidth over the job so far: bus bytes / collective seconds",
          [&](const std::string& labels, const OpMetrics& m) {
            const uint64_t ns = m.collectiveNanos.load(std::memory_order_relaxed);
            const double bus = static_cast<double>(m.busBytes.load(std::memory_order_relaxed));
            out.sample("kolo_busbw_bytes_per_second", labels, ns > 0 ? bus / seconds(ns) : 0.0);
          });
  r.perOp("kolo_op_latency_seconds", "histogram", "per tensor: submit to completion",
          [&](const std::string& labels, const OpMetrics& m) {
            out.histogram("kolo_op_latency_seconds", labels, m.latency, 1e9);
          });
  r.perOp("kolo_fusion_batch_tensors", "histogram", "tensors per fused batch",
          [&](const std::string& labels, const OpMetrics& m) {
            out.histogram("kolo_fusion_batch_tensors", labels, m.batchTensors, 1.0);
          });
}

void renderSets(RankRenderer& r) {
  ExpositionWriter& out = r.out();
  r.perSet("kolo_negotiation_seconds", "histogram", "time of each negotiation cycle",
           [&](const std::string& labels, const SetMetrics& s) {
             out.histogram("kolo_negotiation_seconds", labels, s.negotiation(), 1e9);
           });
  r.perSet("kolo_response_cache_hits_total", "counter", "ops that skipped negotiation (cached)",
           [&](const std::string& labels, const SetMetrics& s) {
             out.sample("kolo_response_cache_hits_total", labels, s.cacheHits());
           });
  r.perSet("kolo_response_cache_misses_total", "counter", "ops this rank had to negotiate",
           [&](const std::string& labels, const SetMetrics& s) {
             out.sample("kolo_response_cache_misses_total", labels, s.cacheMisses());
           });
  r.perSet("kolo_response_cache_hit_ratio", "gauge", "hits / (hits + misses) so far",
           [&](const std::string& labels, const SetMetrics& s) {
             const uint64_t all = s.cacheHits() + s.cacheMisses();
             out.sample(
                 "kolo_response_cache_hit_ratio", labels,
                 all > 0 ? static_cast<double>(s.cacheHits()) / static_cast<double>(all) : 0.0);
           });
  r.perSet("kolo_stalls_total", "counter", "ops that passed KOLO_STALL_WARNING_SECONDS",
           [&](const std::string& labels, const SetMetrics& s) {
             out.sample("kolo_stalls_total", labels, s.stalls());
           });
}

// Arrival skew, per set and member (world rank `member_rank`): as every replica sees it.
void renderArrivals(ExpositionWriter& out, int32_t rank, std::span<const SetMetrics* const> sets) {
  out.family("kolo_arrival_measured_total", "counter",
             "collectives whose members' arrival times were measured");
  for (const SetMetrics* s : sets) {
    out.sample("kolo_arrival_measured_total",
               fmt::format("rank=\"{}\",process_set=\"{}\"", rank, s->processSet()),
               s->arrivals().measured());
  }
  out.family("kolo_arrived_last_total", "counter",
             "collectives in which member_rank arrived last, after the others had to wait");
  for (const SetMetrics* s : sets) {
    for (size_t m = 0; m < s->members().size(); ++m) {
      out.sample("kolo_arrived_last_total",
                 fmt::format("rank=\"{}\",process_set=\"{}\",member_rank=\"{}\"", rank,
                             s->processSet(), s->members()[m]),
                 s->arrivals().timesLast(m));
    }
  }
  out.family("kolo_arrival_lag_seconds_total", "counter",
             "sum over collectives of how long after the first member member_rank arrived");
  for (const SetMetrics* s : sets) {
    for (size_t m = 0; m < s->members().size(); ++m) {
      out.sample("kolo_arrival_lag_seconds_total",
                 fmt::format("rank=\"{}\",process_set=\"{}\",member_rank=\"{}\"", rank,
                             s->processSet(), s->members()[m]),
                 seconds(s->arrivals().lagNanos(m)));
    }
  }
}

void renderTraffic(ExpositionWriter& out, int32_t rank, std::span<const PeerTraffic> traffic) {
  const struct {
    const char* name;
    const char* help;
    uint64_t PeerTraffic::*field;
  } families[] = {
      {"kolo_transport_sent_bytes_total", "bytes this rank's transports sent to the peer",
       &PeerTraffic::bytesSent},
      {"kolo_transport_received_bytes_total", "bytes this rank's transports received from the peer",
       &PeerTraffic::bytesReceived},
  };
  for (const auto& f : families) {
    out.family(f.name, "counter", f.help);
    for (size_t peer = 0; peer < traffic.size(); ++peer) {
      if (static_cast<int32_t>(peer) == rank) continue;
      out.sample(f.name, fmt::format("rank=\"{}\",peer=\"{}\"", rank, peer),
                 traffic[peer].*f.field);
    }
  }
}

}  // namespace

std::string renderRankMetrics(int32_t rank, std::span<const SetMetrics* const> sets,
                              std::span<const PeerTraffic> traffic) {
  RankRenderer r(rank, sets);
  renderOps(r);
  renderSets(r);
  renderArrivals(r.out(), rank, sets);
  renderTraffic(r.out(), rank, traffic);
  return r.out().take();
}

}  // namespace kolo::core
