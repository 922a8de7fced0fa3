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
// The job's 32-byte store secret as 64 hex digits. Passed through the environment (or ssh stdin),
// never on a command line; every store message is authenticated with it.
inline constexpr const char* kEnvSecret = "KOLO_SECRET";
// Network interface the user asked ranks to use (--network-interface); empty means any.
inline constexpr const char* kEnvNetworkInterface = "KOLO_NETWORK_INTERFACE";
// Seconds a rank waits for the store and its peers at startup (kolorun --start-timeout).
inline constexpr const char* kEnvStartTimeout = "KOLO_START_TIMEOUT";

inline constexpr const char* kStoreSchemeFile = "file:";
inline constexpr const char* kStoreSchemeTcp = "tcp:";

}  // namespace kolo::protocol
