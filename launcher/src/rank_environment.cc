#include "kolo/launcher/rank_environment.h"

#include <fmt/format.h>

#include <cctype>
#include <string>
#include <utility>

#include "kolo/base/settings_report.h"
#include "kolo/protocol/elastic.h"
#include "kolo/protocol/env_contract.h"

namespace kolo::launcher {
namespace {

bool isIdentifier(std::string_view name) {
  if (name.empty()) return false;
  auto first = static_cast<unsigned char>(name[0]);
  if (!(std::isalpha(first) || first == '_')) return false;
  for (char c : name) {
    auto byte = static_cast<unsigned char>(c);
    if (!(std::isalnum(byte) || byte == '_')) return false;
  }
  return true;
}

}  // namespace

Expected<EnvSetting> parseEnvSetting(std::string_view text) {
  size_t equals = text.find('=');
  std::string_view name = text.substr(0, equals);
  if (!isIdentifier(name)) {
    return makeStatus(Code::kInvalidArgument,
                      "-x '{}': '{}' is not a valid variable name (letters, digits, '_')", text,
                      name);
  }
  EnvSetting setting{std::string(name), std::nullopt};
  if (equals != std::string_view::npos) setting.value = std::string(text.substr(equals + 1));
  return setting;
}

Environment environmentFrom(const char* const* envp) {
  Environment env;
  if (envp == nullptr) return env;
  for (; *envp != nullptr; ++envp) {
    std::string_view entry(*envp);
    size_t equals = entry.find('=');
    if (equals == std::string_view::npos || equals == 0) continue;
    env.insert_or_assign(std::string(entry.substr(0, equals)),
                         std::string(entry.substr(equals + 1)));
  }
  return env;
}

Environment contractEnvironment(const HostAssignment& assignment, int rank, const JobInfo& job) {
  namespace p = kolo::protocol;
  const LaunchPlacement& place = assignment.placement(rank);
  const HostSlots& host = assignment.hostOf(rank);
  const std::string worldSize = std::to_string(assignment.worldSize());
  const std::string localSize = std::to_string(assignment.localSize(place.hostIndex));
  Environment env;
  env[p::kEnvRank] = std::to_string(rank);
  env[p::kEnvSize] = worldSize;
  env[p::kEnvLocalRank] = std::to_string(place.localRank);
  env[p::kEnvLocalSize] = localSize;
  env[p::kEnvCrossRank] = std::to_string(assignment.crossRank(rank));
  env[p::kEnvCrossSize] = std::to_string(assignment.crossSize(rank));
  env[p::kEnvHostname] = host.name;
  env[p::kEnvStore] = job.storeUrl;
  env[p::kEnvJobId] = job.jobId;
  env[p::kEnvBindAddress] = host.address;
  env[kEnvTorchRank] = std::to_string(rank);
  env[kEnvTorchWorldSize] = worldSize;
  env[kEnvTorchLocalRank] = std::to_string(place.localRank);
  env[kEnvTorchLocalWorldSize] = localSize;
  env[kEnvTorchMasterAddr] = job.masterAddr;
  env[kEnvTorchMasterPort] = std::to_string(job.masterPort);
  if (!job.secretHex.empty()) env[p::kEnvSecret] = job.secretHex;
  if (job.startTimeoutSeconds > 0)
    env[p::kEnvStartTimeout] = fmt::format("{}", job.startTimeoutSeconds);
  if (!job.networkInterface.empty()) env[p::kEnvNetworkInterface] = job.networkInterface;
  if (job.elastic) env[p::kEnvElastic] = "1";
  return env;
}

namespace {

// -x settings on top of `env`: NAME=VALUE sets it, a bare NAME passes kolorun's own value on.
void applySettings(Environment& env, const Environment& base,
                   const std::vector<EnvSetting>& settings) {
  for (const EnvSetting& setting : settings) {
    if (setting.value) {
      env.insert_or_assign(setting.name, *setting.value);
    } else if (auto found = base.find(setting.name); found != base.end()) {
      env.insert_or_assign(setting.name, found->second);
    }
  }
}

}  // namespace

Environment buildRankEnvironment(const HostAssignment& assignment, int rank, const JobInfo& job,
                                 const Environment& base, const std::vector<EnvSetting>& settings) {
  Environment env = base;
  for (auto& [name, value] : contractEnvironment(assignment, rank, job)) {
    env.insert_or_assign(name, value);
  }
  applySettings(env, base, settings);
  return env;
}

Environment remoteRankEnvironment(const HostAssignment& assignment, int rank, const JobInfo& job,
                                  const Environment& base,
                                  const std::vector<EnvSetting>& settings) {
  Environment env = contractEnvironment(assignment, rank, job);
  applySettings(env, base, settings);
  return env;
}

std::vector<std::string> unknownSettingsWarnings(const Environment& base,
                                                 const std::vector<EnvSetting>& settings) {
  std::vector<std::string> warnings;
  auto check = [&](const std::string& name) {
    if (auto warning = unknownSettingWarning(name)) warnings.push_back(std::move(*warning));
  };
  for (const auto& entry : base) check(entry.first);
  for (const EnvSetting& setting : settings) {
    if (setting.value && base.count(setting.name) == 0) check(setting.name);
  }
  return warnings;
}

std::vector<std::string> toEnvStrings(const Environment& env) {
  std::vector<std::string> strings;
  strings.reserve(env.size());
  for (const auto& [name, value] : env) {
    std::string entry;
    entry.reserve(name.size() + 1 + value.size());
    entry.append(name).append("=").append(value);
    strings.push_back(std::move(entry));
  }
  return strings;
}

}  // namespace kolo::launcher
