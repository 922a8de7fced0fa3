// JobAbort: the record kolorun publishes in its store (key "<job id>/abort") when the job has
// failed, so that every rank reports the same failed rank. A rank holds the verdict in its
// job's AbortToken (kolo/base/abort_token.h).
//
// A peer failure is first seen by whoever is closest to it: kolorun reaps a rank that exited,
// died of a signal or stopped (SIGSTOP); a rank's transport sees a TCP connection end or a
// shared-memory peer's pid vanish. Local views differ (in a ring, rank 2 only sees that rank 1
// went quiet when rank 0 died), so ranks do not guess: they fail with the one record in the
// store.
// Thread: any.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "kolo/base/status.h"

namespace kolo {

struct PeerFailure {
  int rank = -1;
  std::string host;
  long pid = 0;
  std::string reason;    // "was killed by signal 9 (SIGKILL)", "was stopped (SIGSTOP)", ...
  std::string reporter;  // "kolorun", ...

  // One "field=value" per line; values must not contain newlines (they are replaced).
  std::string encode() const;
  static std::optional<PeerFailure> decode(std::string_view text);
  // kRemoteError: "rank 1 (host a, pid 42) failed: was stopped (SIGSTOP) [seen by kolorun]".
  Status toStatus() const;
};

// The store key of the record for job `jobId` (KOLO_JOB_ID).
std::string jobAbortKey(std::string_view jobId);
// The store key a rank's liveness counter lives under.
std::string jobHeartbeatKey(std::string_view jobId, int rank);

// The store key a rank claims (add 1; the first to get 1 wins) before writing the record, so
// that kolorun and the ranks never overwrite each other's first verdict.
std::string jobAbortClaimKey(std::string_view jobId);

}  // namespace kolo
