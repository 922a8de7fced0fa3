// The environment contract between kolorun (or mpirun / Slurm) and a rank.
// Header-only: the launcher includes it without linking the runtime.
#pragma once

namespace kolo::protocol {

inline constexpr const char* kEnvRank = "KOLO_RANK";
inline constexpr const char* kEnvSize = "KOLO_SIZE";
inline constexpr const char* kEnvLocalRank = "KOLO_LOCAL_RANK";
inline constexpr const char* kEnvLocalSize = "KOLO_LOCAL_SIZE";
inline constexpr const char* kEnvCrossRank = "KOLO_CROSS_RANK";
inline constexpr const char* kEnvCrossSize = "KOLO_CROSS_SIZE";
inline constexpr const char* kEnvHostname = "KOLO_HOSTNAME";
// Where ranks rendezvous: "file:/path/to/dir" (now) or "tcp:host:port" (launcher store).
inline constexpr const char* kEnvStore = "KOLO_STORE";
// Unique per job; names shared-memory segments and store keys.
inline constexpr const char* kEnvJobId = "KOLO_JOB_ID";
// Address this rank binds for TCP (the launcher's host assignment).
inline constexpr const char* kEnvBindAddress = "KOLO_BIND_ADDRESS";

inline constexpr const char* kStoreSchemeFile = "file:";
inline constexpr const char* kStoreSchemeTcp = "tcp:";

}  // namespace kolo::protocol
