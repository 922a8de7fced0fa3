// The snapshot directory through which a host's ranks hand their live metrics to the host's
// lead (MetricsPublisher): one file per rank, rank-<r>.prom, whose first line is
// "# kolo-pid <pid>", replaced whole on every write (written beside it, then renamed), so a
// reader never sees half a snapshot.
// Thread: any (plain functions over the file system).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kolo/base/status.h"

namespace kolo::core {

// /dev/shm (else the temp directory)/kolo-metrics-<uid>-<job>-<host>-<endpoint>: the same on
// every rank of one host and job, and different for another job, host or endpoint. Characters
// other than [A-Za-z0-9._-] in the parts become '_'.
std::string metricsSnapshotDirectory(const std::string& jobId, const std::string& host,
                                     const std::string& endpoint);
// Creates it with mode 0700, or checks that the existing one is a directory this user owns that
// no one else can write.
Status ensureSnapshotDirectory(const std::string& directory);
std::string rankSnapshotPath(const std::string& directory, int32_t rank);
// Replaces `path` with `text`: written to path.tmp.<pid>, then renamed over it.
Status writeFileAtomically(const std::string& path, const std::string& text);
// Every rank's snapshot except `skipRank`'s, by rank. A snapshot whose process is gone is
// removed and skipped.
std::vector<std::pair<int32_t, std::string>> readRankSnapshots(const std::string& directory,
                                                               int32_t skipRank);
// The first line every snapshot starts with.
std::string snapshotPidLine();

}  // namespace kolo::core
