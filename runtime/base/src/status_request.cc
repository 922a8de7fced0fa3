#include "kolo/base/status_request.h"

#include <fmt/format.h>

namespace kolo {

std::string statusRequestCounterKey(std::string_view jobId) {
  return fmt::format("{}/status/requests", jobId);
}
std::string statusRequestKey(std::string_view jobId, long long request) {
  return fmt::format("{}/status/{}/request", jobId, request);
}
std::string statusDumpKey(std::string_view jobId, long long request, int rank) {
  return fmt::format("{}/status/{}/dump/{}", jobId, request, rank);
}
std::string statusClaimKey(std::string_view jobId, long long request) {
  return fmt::format("{}/status/{}/claim", jobId, request);
}

}  // namespace kolo
