#include "kolo/core/autotune_log.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace kolo::core {
namespace {

double mebibytes(uint64_t bytes) {
  return static_cast<double>(bytes) / static_cast<double>(uint64_t{1} << 20);
}

}  // namespace

Expected<AutotuneLog> AutotuneLog::open(const std::string& path) {
  AutotuneLog log;
  log.file_.reset(std::fopen(path.c_str(), "w"));
  if (!log.file_) {
    return makeStatus(Code::kIoError, "KOLO_AUTOTUNE_LOG: cannot create '{}': {}", path,
                      std::strerror(errno));
  }
  fmt::print(log.file_.get(), "{}\n", kHeader);
  std::fflush(log.file_.get());
  return log;
}

void AutotuneLog::write(const TunedSettings& settings, double score,
                        std::span<const AllreduceCandidate> known) {
  if (!file_) return;
  fmt::print(file_.get(), "{},{},{},{},{},{},{:.6g}\n", settings.cycleTimeUs / 1000.0,
             mebibytes(settings.fusionThresholdBytes), mebibytes(settings.largeTensorBytes),
             allreduceAlgorithmName(known, settings.allreduceAlgorithm[0]),
             allreduceAlgorithmName(known, settings.allreduceAlgorithm[1]),
             allreduceAlgorithmName(known, settings.allreduceAlgorithm[2]), score);
  std::fflush(file_.get());
}

}  // namespace kolo::core
