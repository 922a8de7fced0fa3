#include "kolo/launcher/core_binding.h"
#include "kolo/launcher/launcher.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "kolo/launcher/job_resources.h"
#include "kolo/launcher/rank_spawner.h"
#include "kolo/launcher/supervisor.h"
#include "kolo/protocol/env_contract.h"

namespace kolo::launcher {
namespace {

// The shell's code for "command cannot be executed / not found".
constexpr int kExitCannotExecute = 127;

void printError(const std::string& message) {
  std::fputs(fmt::format("kolorun: {}\n", message).c_str(), stderr);
  std::fflush(stderr);
}

std::string shellQuote(const std::string& word) {
  if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789_-./=:,+@%") == std::string::npos) {
    return word;
  }
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  return quoted + "'";
}

std::string joinCommand(const std::vector<std::string>& command) {
  std::string line;
  for (const std::string& word : command) {
    if (!line.empty()) line.push_back(' ');
    line += shellQuote(word);
  }
  return line;
}

}  // namespace

std::string describeJob(const HostAssignment& assignment, const JobInfo& job,
                        const LaunchOptions& options, const Environment& base) {
  std::string text = fmt::format("kolorun dry run: {} rank(s) on {} host(s), job {}\n",
                                 assignment.worldSize(), assignment.hosts().size(), job.jobId);
  for (size_t h = 0; h < assignment.hosts().size(); ++h) {
    const HostSlots& host = assignment.hosts()[h];
    text += fmt::format("host {}: {} ({}, {} slot(s), {} rank(s){})\n", h, host.name, host.address,
                        host.slots, assignment.localSize(static_cast<int>(h)),
                        host.local ? ", local" : "");
  }
  const std::string command = joinCommand(options.command);
  for (int rank = 0; rank < assignment.worldSize(); ++rank) {
    const RankPlacement& place = assignment.placement(rank);
    text += fmt::format("rank {}: host {} local rank {}: {}\n", rank, assignment.hostOf(rank).name,
                        place.localRank, command);
    Environment shown = contractEnvironment(assignment, rank, job);
    Environment full = buildRankEnvironment(assignment, rank, job, base, options.env);
    for (const EnvSetting& setting : options.env) {
      if (auto found = full.find(setting.name); found != full.end()) {
        shown.insert_or_assign(setting.name, found->second);
      }
    }
    for (const auto& [name, value] : shown) {
      // Show what the rank really gets, including a -x override of a contract variable.
      auto actual = full.find(name);
      text += fmt::format("  {}={}\n", name, actual != full.end() ? actual->second : value);
    }
  }
  return text;
}

int runKolorun(int argc, const char* const* argv, const char* const* envp) {
  ParsedCommandLine parsed = parseCommandLine(argc, argv);
  if (parsed.exitNow) {
    std::fputs(parsed.stdoutText.c_str(), stdout);
    std::fputs(parsed.stderrText.c_str(), stderr);
    return parsed.exitCode;
  }
  const LaunchOptions& options = parsed.options;
  const Environment base = environmentFrom(envp);
  for (const EnvSetting& setting : options.env) {
    if (!setting.value && base.count(setting.name) == 0) {
      printError(fmt::format("warning: -x {}: {} is not set in kolorun's environment; not passed",
                             setting.name, setting.name));
    }
  }

  auto assignment = HostAssignment::localOnly(localHostname(), options.np);
  if (!assignment) {
    printError(assignment.status().message());
    return 2;
  }
  auto jobId = makeJobId();
  if (!jobId) {
    printError(jobId.status().message());
    return 1;
  }
  auto storeDir = ScopedTempDir::create(fmt::format("kolo-{}-", jobId->substr(0, 8)));
  if (!storeDir) {
    printError(storeDir.status().message());
    return 1;
  }
  auto port = pickFreePort();
  if (!port) {
    printError(port.status().message());
    return 1;
  }
  JobInfo job;
  job.storeUrl = std::string(protocol::kStoreSchemeFile) + storeDir->path();
  job.jobId = *jobId;
  job.masterAddr = assignment->hostOf(0).address;
  job.masterPort = *port;

  if (options.dryRun) {
    std::fputs(describeJob(*assignment, job, options, base).c_str(), stdout);
    return 0;
  }

  // Resolve against the PATH the ranks will see, before anything starts, so a typo is one clear
  // error rather than N failed ranks.
  Environment rank0Env = buildRankEnvironment(*assignment, 0, job, base, options.env);
  auto executable = resolveExecutable(options.command.front(), rank0Env["PATH"]);
  if (!executable) {
    printError(executable.status().message());
    return kExitCannotExecute;
  }

  if (Status status = blockSupervisorSignals(); !status.isOk()) {
    printError(status.message());
    return 1;
  }
  SupervisorOptions supervisorOptions;
  supervisorOptions.timeoutSeconds = options.timeoutSeconds;
  supervisorOptions.killGraceSeconds = options.killGraceSeconds;
  Supervisor supervisor(supervisorOptions);
  if (Status status = supervisor.open(); !status.isOk()) {
    printError(status.message());
    return 1;
  }
  auto binding = planCoreBinding(options.bindTo, assignment->localSize(0), allowedCpus());
  if (!binding) {
    printError(binding.status().message());
    return 2;
  }
  for (int rank = 0; rank < assignment->worldSize(); ++rank) {
    Environment env = buildRankEnvironment(*assignment, rank, job, base, options.env);
    const int localRank = assignment->placement(rank).localRank;
    const int cpu = localRank < static_cast<int>(binding->size()) ? (*binding)[localRank] : -1;
    auto process = spawnRank(rank, *executable, options.command, toEnvStrings(env), cpu);
    if (!process) {
      printError(process.status().message());
      supervisor.abortAll();
      return process.status().code() == Code::kInvalidArgument ? kExitCannotExecute : 1;
    }
    supervisor.addRank(*process);
  }
  return supervisor.run();
}

}  // namespace kolo::launcher
