#include "algorithms/algorithm_costs.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "algorithms/internal.h"

namespace kolo::coll::cost {
namespace {

double log2Ceil(int n) {
  return n <= 1 ? 0.0 : static_cast<double>(std::bit_width(static_cast<unsigned>(n - 1)));
}

double isPowerOfTwo(int n) {
  return std::has_single_bit(static_cast<unsigned>(n)) ? 1.0 : 0.0;
}

// Seconds for `steps` messages and `bytes` through one kind of link.
double linkSeconds(bool interHost, const LinkModel& links, double steps, double bytes) {
  return interHost ? steps * links.interLatency + bytes / links.interBytesPerSecond
                   : steps * links.intraLatency + bytes / links.intraBytesPerSecond;
}

// A flat algorithm's every step is as slow as its slowest link: between hosts when the world
// spans hosts (its transport is then TCP for every pair).
double flatSeconds(const SelectionContext& ctx, double steps, double bytesFactor) {
  return linkSeconds(ctx.numHosts > 1, ctx.links, steps,
                     static_cast<double>(ctx.bytes) * bytesFactor);
}

}  // namespace

double ringAllreduceSteps(int n) {
  return 2.0 * (n - 1);
}

double ringAllreduceBytes(int n) {
  return n <= 1 ? 0.0 : 2.0 * (n - 1) / n;
}

// Non-powers of two pay the fold and unfold steps.
double rdSteps(int n) {
  return n <= 1 ? 0.0 : std::floor(std::log2(n)) + 2.0 * (1.0 - isPowerOfTwo(n));
}

double shmAllreduceSteps(int n) {
  return n <= 1 ? 0.0 : 2.0;
}

double ringPhaseSteps(int n) {
  return n - 1.0;
}

double ringPhaseBytes(int n) {
  return n <= 1 ? 0.0 : (n - 1.0) / n;
}

double treeSteps(int n) {
  return log2Ceil(n);
}

double chainSteps(int n) {
  return n - 1.0;
}

double oneIfMany(int n) {
  return n <= 1 ? 0.0 : 1.0;
}

double zero(int) {
  return 0.0;
}

// Hierarchical entries, for display: n ranks as n/2 hosts of two.
double hierAllreduceSteps(int n) {
  return n <= 1 ? 0.0 : 2.0 + ringAllreduceSteps((n + 1) / 2) + 1.0;
}

double hierAllreduceBytes(int n) {
  return n <= 1 ? 0.0 : ringAllreduceBytes((n + 1) / 2) / 2.0;
}

double hierAllgatherSteps(int n) {
  return n <= 1 ? 0.0 : 2.0 + ringPhaseSteps((n + 1) / 2);
}

double hierAllgatherBytes(int n) {
  return n <= 1 ? 0.0 : ringPhaseBytes((n + 1) / 2) / 2.0;
}

double ringAllreduceSeconds(const SelectionContext& ctx) {
  return flatSeconds(ctx, ringAllreduceSteps(ctx.worldSize), ringAllreduceBytes(ctx.worldSize));
}

double rdSeconds(const SelectionContext& ctx) {
  return flatSeconds(ctx, rdSteps(ctx.worldSize), rdSteps(ctx.worldSize));
}

double shmAllreduceSeconds(const SelectionContext& ctx) {
  return linkSeconds(false, ctx.links, shmAllreduceSteps(ctx.worldSize),
                     static_cast<double>(ctx.bytes) * ringAllreduceBytes(ctx.worldSize));
}

// Node allreduce on the arena (the largest host is the slowest), the cross allreduce of one
// shard of bytes/minLocalSize (ring or rd by size, like the flat choice), node allgather.
double hierAllreduceSeconds(const SelectionContext& ctx) {
  const int l = ctx.maxLocalSize;
  const int h = ctx.numHosts;
  const double bytes = static_cast<double>(ctx.bytes);
  const double shard = bytes / std::max(1, ctx.minLocalSize);
  double node =
      l <= 1 ? 0.0
             : linkSeconds(false, ctx.links, shmAllreduceSteps(l), bytes * ringAllreduceBytes(l)) +
                   linkSeconds(false, ctx.links, ringPhaseSteps(l), bytes * ringPhaseBytes(l));
  double cross =
      shard < kSmallMessageBytes
          ? linkSeconds(h > 1, ctx.links, rdSteps(h), shard * rdSteps(h))
          : linkSeconds(h > 1, ctx.links, ringAllreduceSteps(h), shard * ringAllreduceBytes(h));
  return node + cross;
}

double ringAllgatherSeconds(const SelectionContext& ctx) {
  return flatSeconds(ctx, ringPhaseSteps(ctx.worldSize), ringPhaseBytes(ctx.worldSize));
}

// Node allgather of this host's blocks, cross allgather of one share of every host's node block,
// node allgather of the shares, and one local copy into rank order.
double hierAllgatherSeconds(const SelectionContext& ctx) {
  const int l = ctx.maxLocalSize;
  const int h = ctx.numHosts;
  const double bytes = static_cast<double>(ctx.bytes);
  const double nodeBlock = bytes * l / std::max(1, ctx.worldSize);
  double node = linkSeconds(false, ctx.links, ringPhaseSteps(l), nodeBlock * ringPhaseBytes(l)) +
                linkSeconds(false, ctx.links, ringPhaseSteps(l), bytes * ringPhaseBytes(l)) +
                linkSeconds(false, ctx.links, 0.0, bytes);
  double cross = linkSeconds(h > 1, ctx.links, ringPhaseSteps(h),
                             bytes / std::max(1, ctx.minLocalSize) * ringPhaseBytes(h));
  return node + cross;
}

}  // namespace kolo::coll::cost
