// The environment each rank starts with: kolorun's own environment, then the contract of
// kolo/protocol/env_contract.h (plus the torch-style names), then the user's `-x` settings.
// Pure functions of their inputs, so the contract is tested without spawning anything.
//
// Thread: the launcher's main thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/base/status.h"
#include "kolo/launcher/host_assignment.h"

namespace kolo::launcher {

// torch.distributed's names, set so that a PyTorch script runs under kolorun unchanged.
inline constexpr const char* kEnvTorchRank = "RANK";
inline constexpr const char* kEnvTorchWorldSize = "WORLD_SIZE";
inline constexpr const char* kEnvTorchLocalRank = "LOCAL_RANK";
inline constexpr const char* kEnvTorchLocalWorldSize = "LOCAL_WORLD_SIZE";
inline constexpr const char* kEnvTorchMasterAddr = "MASTER_ADDR";
inline constexpr const char* kEnvTorchMasterPort = "MASTER_PORT";

// Per-job values, the same for every rank.
struct JobInfo {
  std::string storeUrl;            // KOLO_STORE, e.g. "tcp:127.0.0.1:41234"
  std::string jobId;               // KOLO_JOB_ID
  std::string masterAddr;          // MASTER_ADDR: rank 0's host
  int masterPort = 0;              // MASTER_PORT
  std::string secretHex;           // KOLO_SECRET (omitted when empty)
  double startTimeoutSeconds = 0;  // KOLO_START_TIMEOUT (omitted when 0)
  std::string networkInterface;    // KOLO_NETWORK_INTERFACE (omitted when empty)
  bool elastic = false;            // KOLO_ELASTIC=1 (kolorun --min-np)
};

// One `-x NAME[=VALUE]`: without a value, kolorun's own value of NAME is passed on.
struct EnvSetting {
  std::string name;
  std::optional<std::string> value;
};

using Environment = std::map<std::string, std::string>;

// "NAME=VALUE" or "NAME". The name must be a shell identifier ([A-Za-z_][A-Za-z0-9_]*).
Expected<EnvSetting> parseEnvSetting(std::string_view text);

// Reads `environ` (or any "NAME=VALUE" array ending in nullptr) into a map.
Environment environmentFrom(const char* const* envp);

// Only the variables kolorun itself defines for `rank` (contract and torch names).
Environment contractEnvironment(const HostAssignment& assignment, int rank, const JobInfo& job);

// The full environment for `rank`: base, overwritten by the contract, overwritten by `settings`.
// A setting without a value whose name is missing from `base` is skipped.
Environment buildRankEnvironment(const HostAssignment& assignment, int rank, const JobInfo& job,
                                 const Environment& base, const std::vector<EnvSetting>& settings);

// What a remote rank gets (through `env` on the ssh command line): the contract and the `-x`
// settings, but not kolorun's own environment, which belongs to this machine.
Environment remoteRankEnvironment(const HostAssignment& assignment, int rank, const JobInfo& job,
                                  const Environment& base, const std::vector<EnvSetting>& settings);

// One warning per KOLO_* variable the ranks would get (from `base` or a -x NAME=VALUE) that is
// not a declared Kolo setting, naming the closest declared name.
std::vector<std::string> unknownSettingsWarnings(const Environment& base,
                                                 const std::vector<EnvSetting>& settings);

// "NAME=VALUE" strings for execve.
std::vector<std::string> toEnvStrings(const Environment& env);

}  // namespace kolo::launcher
