// Timeline: a Chrome-trace JSON file (KOLO_TIMELINE=file.json, open in Perfetto or
// chrome://tracing) written by rank 0. One row per tensor shows WAIT_FOR_PEERS from submit to
// the start of its collective (with the fusion-buffer copies of packed batches), a "RANK r READY"
// mark when each rank's request reached negotiation, then the collective itself (ALLREDUCE,
// FUSED_ALLREDUCE, ...); a row per process set marks each coordinator cycle. Events are appended as
// they happen, so a crashed job still leaves a readable prefix. Thread: any; one mutex around the
// file (coordinators of several process sets share it).
#pragma once

#include <cstdio>
#include <map>
#include <mutex>
#include <span>
#include <string>

#include "kolo/base/deadline.h"
#include "kolo/base/status.h"
#include "kolo/core/fusion_planner.h"
#include "kolo/core/response.h"

namespace kolo::core {

class Timeline {
 public:
  static Expected<std::shared_ptr<Timeline>> open(const std::string& path);
  ~Timeline();

  void submitted(int32_t processSet, const std::string& name, Clock::time_point at);
  void cycle(int32_t processSet, uint64_t cycle, size_t responses);
  // `rank`'s request for `name` reached negotiation (cache hits are not negotiated).
  void arrived(int32_t processSet, const std::string& name, int32_t rank);
  // `packed`/`reduced` (packed batches only) split the span into MEMCPY_IN_FUSION_BUFFER,
  // the collective and MEMCPY_OUT_FUSION_BUFFER.
  void batch(int32_t processSet, const FusedBatch& batch, std::span<const Response> responses,
             Clock::time_point start, Clock::time_point end, Clock::time_point packed = {},
             Clock::time_point reduced = {});

 private:
  explicit Timeline(std::FILE* file);
  int rowOf(int32_t processSet, const std::string& name);  // caller holds mutex_
  void write(const std::string& event);                    // caller holds mutex_
  double micros(Clock::time_point t) const;

  std::mutex mutex_;
  std::FILE* file_;
  Clock::time_point origin_ = Clock::now();
  std::map<std::pair<int32_t, std::string>, int> rows_;
  std::map<std::pair<int32_t, std::string>, Clock::time_point> submittedAt_;
  bool first_ = true;
};

}  // namespace kolo::core
