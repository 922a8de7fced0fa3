// AutotuneLog: the CSV file KOLO_AUTOTUNE_LOG (alias HOROVOD_AUTOTUNE_LOG) names, written by the
// rank that tunes (the world's rank 0), in the manner of Horovod's autotune log: a header, one
// row per trial (the settings it ran with and its score), and a last row repeating the settings
// the tuner chose with their score. Rows are flushed as they are written, so a job that stops
// while tuning leaves the trials it ran.
//
// Columns: cycle_time_ms, tensor_fusion_threshold and large_tensor_threshold (MiB, as Horovod
// writes its fusion threshold), allreduce_small, allreduce_medium, allreduce_large (algorithm
// names, "auto" for the selector's choice) and score (bytes run per second of wall time).
// Thread: the coordinator's (one writer).
#pragma once

#include <cstdio>
#include <memory>
#include <span>
#include <string>

#include "kolo/base/status.h"
#include "kolo/core/tuned_settings.h"

namespace kolo::core {

class AutotuneLog {
 public:
  static constexpr std::string_view kHeader =
      "cycle_time_ms,tensor_fusion_threshold,large_tensor_threshold,allreduce_small,"
      "allreduce_medium,allreduce_large,score";

  // Creates (truncates) `path` and writes the header; kIoError naming the path otherwise.
  static Expected<AutotuneLog> open(const std::string& path);

  // One row; `known` names the algorithm ids.
  void write(const TunedSettings& settings, double score,
             std::span<const AllreduceCandidate> known);

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> file_;
};

}  // namespace kolo::core
