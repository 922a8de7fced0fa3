// Prometheus text exposition (format 0.0.4) for live metrics: a writer for one rank's snapshot
// and the merge of several ranks' snapshots into one exposition, as a host's endpoint serves
// it. Prometheus wants each metric family once, its # HELP and # TYPE lines first and then all
// of its samples together, so the merge groups the ranks' samples by family instead of
// concatenating the texts.
// Thread: any (plain functions and a plain builder).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "metrics_histogram.h"

namespace kolo::core {

class ExpositionWriter {
 public:
  // Starts a family: its # HELP and # TYPE lines. type: counter, gauge or histogram.
  void family(std::string_view name, std::string_view type, std::string_view help);
  // name{labels} value; `labels` is the rendered list without braces: rank="0",op="allreduce".
  void sample(std::string_view name, std::string_view labels, uint64_t value);
  void sample(std::string_view name, std::string_view labels, double value);
  // name_bucket{labels,le="..."} for every bound and +Inf, then name_sum and name_count.
  // Bounds and the sum are divided by `unitsPerValue` (1e9: nanoseconds shown as seconds).
  void histogram(std::string_view name, std::string_view labels, const MetricsHistogram& h,
                 double unitsPerValue);
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

// One exposition from several: each family's header once (from its first appearance), then the
// samples every text has for it, texts in the given order. Comment lines other than HELP and
// TYPE are dropped.
std::string mergeExpositions(std::span<const std::string> texts);

}  // namespace kolo::core
