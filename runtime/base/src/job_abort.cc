#include "kolo/base/job_abort.h"

#include <fmt/format.h>

namespace kolo {
namespace {

std::string oneLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

}  // namespace

std::string PeerFailure::encode() const {
  return fmt::format("rank={}\nhost={}\npid={}\nreason={}\nreporter={}\n", rank, oneLine(host), pid,
                     oneLine(reason), oneLine(reporter));
}

std::optional<PeerFailure> PeerFailure::decode(std::string_view text) {
  PeerFailure f;
  bool haveRank = false;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, eq);
    const std::string value(line.substr(eq + 1));
    if (key == "rank") {
      try {
        f.rank = std::stoi(value);
        haveRank = true;
      } catch (...) {
        return std::nullopt;
      }
    } else if (key == "host") {
      f.host = value;
    } else if (key == "pid") {
      f.pid = std::strtol(value.c_str(), nullptr, 10);
    } else if (key == "reason") {
      f.reason = value;
    } else if (key == "reporter") {
      f.reporter = value;
    }
  }
  if (!haveRank) return std::nullopt;
  return f;
}

Status PeerFailure::toStatus() const {
  std::string where;
  if (!host.empty()) where = "host " + host;
  if (pid > 0) where += fmt::format("{}pid {}", where.empty() ? "" : ", ", pid);
  return makeStatus(Code::kRemoteError, "rank {}{} failed: {}{}", rank,
                    where.empty() ? "" : " (" + where + ")", reason,
                    reporter.empty() ? "" : " [seen by " + reporter + "]");
}

std::string jobAbortKey(std::string_view jobId) {
  return fmt::format("{}/abort", jobId);
}

std::string jobHeartbeatKey(std::string_view jobId, int rank) {
  return fmt::format("{}/heartbeat/{}", jobId, rank);
}

std::string jobAbortClaimKey(std::string_view jobId) {
  return fmt::format("{}/abort.claim", jobId);
}

}  // namespace kolo
