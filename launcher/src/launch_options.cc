#include "kolo/launcher/launch_options.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <set>
#include <sstream>

#include "kolo/base/env.h"
#include "kolo/launcher/build_info.h"
#include "kolo/launcher/host_list.h"

namespace kolo::launcher {
namespace {

constexpr const char* kVersion = "0.1.0";

// CLI11 allows only one character after a single dash, so "-np" is rewritten to "--np" before
// parsing. Only kolorun's own options are scanned: the first non-option argument starts the
// command, whose own "-np" must reach it untouched.
std::vector<std::string> normalizeArguments(int argc, const char* const* argv) {
  static const std::set<std::string> kTakesValue = {"-np",
                                                    "--np",
                                                    "-n",
                                                    "-x",
                                                    "--timeout",
                                                    "--kill-grace",
                                                    "--bind-to",
                                                    "-H",
                                                    "--host",
                                                    "--hostfile",
                                                    "--start-timeout",
                                                    "--network-interface",
                                                    "--output-filename",
                                                    "--ranks-filter",
                                                    "--launcher",
                                                    "--ntasks-per-node",
                                                    "--ssh-port",
                                                    "--ssh-identity-file",
                                                    "--min-np",
                                                    "--reset-limit",
                                                    "--max-np",
                                                    "--host-discovery-script"};
  std::vector<std::string> args;
  bool inOptions = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!inOptions) {
      args.push_back(std::move(arg));
      continue;
    }
    if (arg == "--" || arg.empty() || arg[0] != '-') {
      inOptions = false;
    } else if (arg == "-np") {
      arg = "--np";
    } else if (arg.rfind("-np=", 0) == 0) {
      arg.insert(0, "-");
    }
    bool valueFollows = inOptions && kTakesValue.count(arg) > 0;
    args.push_back(std::move(arg));
    if (valueFollows && i + 1 < argc) args.emplace_back(argv[++i]);
  }
  return args;
}

}  // namespace

Expected<std::set<int>> parseRankList(std::string_view text) {
  std::set<int> ranks;
  auto number = [](std::string_view t, int& out) {
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return ec == std::errc() && end == t.data() + t.size() && out >= 0;
  };
  for (const std::string& item : splitKeepingEmpty(text, ',')) {
    size_t dash = item.find('-');
    int first = 0;
    int last = 0;
    bool ok = dash == std::string::npos
                  ? number(item, first) && number(item, last)
                  : number(std::string_view(item).substr(0, dash), first) &&
                        number(std::string_view(item).substr(dash + 1), last) && first <= last;
    if (!ok) {
      return makeStatus(Code::kInvalidArgument,
                        "--ranks-filter '{}': '{}' is not a rank or a range like 2-5", text, item);
    }
    for (int r = first; r <= last; ++r) ranks.insert(r);
  }
  if (ranks.empty()) {
    return makeStatus(Code::kInvalidArgument, "--ranks-filter '{}' names no rank", text);
  }
  return ranks;
}

namespace {

// What the command line gives as text or flags, turned into LaunchOptions after parsing.
struct RawArguments {
  std::vector<std::string> xSettings;  // -x, unparsed
  std::string ranksFilter;             // --ranks-filter, unparsed
  bool checkBuild = false;
  bool helpEnv = false;
  bool status = false;  // --status
  int statusPid = 0;    // --pid
};

// The options are declared in the order --help lists them.

// How many ranks, on which hosts, and how they meet.
void addPlacementOptions(CLI::App& app, LaunchOptions& options) {
  app.add_option("-n,--np", options.np,
                 "number of ranks to start (default with -H/--hostfile: one per slot)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("-H,--host", options.hostList,
                 "hosts and slots: host1:slots,host2:slots (localhost, 127.x.y.z and this "
                 "machine's name run here; others through ssh)");
  app.add_option("--hostfile", options.hostfile,
                 "file with one host per line: 'host slots=N', 'host:N' or 'host'; # comments")
      ->excludes("-H");
  app.add_flag("--local-hosts", options.localHosts,
               "run every -H/--hostfile host on this machine (no ssh), each rank keeping its "
               "host's name as KOLO_HOSTNAME: simulates a multi-host job here");
  app.add_option("--start-timeout", options.startTimeoutSeconds,
                 "seconds for every rank to join the rendezvous store; missing ranks are named "
                 "and the job stops")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--network-interface", options.networkInterface,
                 "interface whose address ranks and the store use (e.g. eth0)");
}

void addOutputOptions(CLI::App& app, LaunchOptions& options, RawArguments& raw) {
  app.add_option("--output-filename", options.outputDir,
                 "also write each rank's stdout/stderr to DIR/rank.N/stdout and stderr");
  app.add_option("--ranks-filter", raw.ranksFilter,
                 "show only these ranks' output, e.g. 0 or 0,2-3 (files get everything)");
  app.add_flag("--prefix-timestamp", options.prefixTimestamp,
               "start each output line with a UTC timestamp");
}

// Who starts the ranks that kolorun does not fork itself: mpirun, or ssh for remote hosts.
void addStarterOptions(CLI::App& app, LaunchOptions& options) {
  app.add_flag("--mpi", options.useMpirun,
               "start the ranks with mpirun (equivalent flags; Kolo reads Open MPI's env)");
  app.add_option("--launcher", options.launcher,
                 "who starts the ranks: srun (one step per rank on the Slurm allocation's "
                 "nodes; the default inside salloc/sbatch without -H), ssh (remote hosts; local "
                 "ones forked), local (every rank on this machine)")
      ->check(CLI::IsMember({"srun", "ssh", "local"}));
  app.add_option("--ntasks-per-node", options.ntasksPerNode,
                 "with --launcher srun: ranks per allocated node (default: the allocation's "
                 "tasks per node)")
      ->check(CLI::Range(1, 1 << 16));
  app.add_option("--ssh-port", options.sshPort, "ssh port for remote hosts")
      ->check(CLI::Range(1, 65535));
  app.add_option("--ssh-identity-file", options.sshIdentityFile,
                 "ssh private key for remote hosts");
}

void addReportFlags(CLI::App& app, RawArguments& raw) {
  app.add_flag("--check-build", raw.checkBuild,
               "print which backends Kolo was built with (shm, tcp, MPI, NCCL, ...) and this "
               "machine's topology (kolo-bench --topology), and exit");
  app.add_flag("--help-env", raw.helpEnv, "print every KOLO_* variable with its default and exit");
  app.add_flag("--status", raw.status,
               "print a live verdict of the kolorun job running on this host (each rank's "
               "current op, queue, last completion, who waits for whom, Python stacks) and exit");
  app.add_option("--pid", raw.statusPid, "with --status: the kolorun to ask, when several run");
}

// What each rank gets and how long it may run.
void addRankOptions(CLI::App& app, LaunchOptions& options, RawArguments& raw) {
  app.add_option("-x", raw.xSettings,
                 "NAME=VALUE sets a variable for every rank; NAME alone passes on kolorun's "
                 "value (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--timeout", options.timeoutSeconds,
                 "whole-job limit in seconds; when it passes every rank is stopped and kolorun "
                 "exits 124")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--kill-grace", options.killGraceSeconds,
                 "seconds between SIGTERM and SIGKILL when stopping ranks")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--bind-to", options.bindTo,
                 "core: bind local rank i to the i-th core (all its hardware threads), or "
                 "nothing when the host has fewer cores than ranks; numa: split the local "
                 "ranks into blocks, one per NUMA node; none: leave placement to the scheduler")
      ->capture_default_str()
      ->check(CLI::IsMember({"core", "numa", "none"}));
}

void addElasticOptions(CLI::App& app, LaunchOptions& options) {
  app.add_option("--min-np", options.minNp,
                 "elastic job: a failing rank does not end the job while at least this many "
                 "ranks live; the survivors re-form through the store (kolo.torch.elastic)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-np", options.maxNp,
                 "elastic job: most ranks the host-discovery script may grow the job to "
                 "(default: -np)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--host-discovery-script", options.hostDiscoveryScript,
                 "elastic job: a command printing the usable hosts ('host:slots' lines), run "
                 "every KOLO_DISCOVERY_INTERVAL_SECONDS (1); new slots get new ranks, ranks on "
                 "hosts that left are stopped");
  app.add_option("--reset-limit", options.resetLimit,
                 "elastic job: how many rank failures to survive at most (default: no limit)")
      ->check(CLI::NonNegativeNumber);
}

void declareOptions(CLI::App& app, LaunchOptions& options, RawArguments& raw) {
  app.footer(
      "Usage: kolorun -np N [-H host1:slots,... | --hostfile FILE] [options] [--] command "
      "[args...]\n"
      "--help-env lists every KOLO_* variable; --check-build the compiled backends.\n"
      "Exit code: the first failing rank's (128 + signal if killed), 124 on --timeout.");
  app.set_version_flag("--version", fmt::format("kolorun {}", kVersion));
  addPlacementOptions(app, options);
  addOutputOptions(app, options, raw);
  addStarterOptions(app, options);
  addReportFlags(app, raw);
  addRankOptions(app, options, raw);
  addElasticOptions(app, options);
  app.add_flag("--dry-run", options.dryRun,
               "print the rank map, commands and KOLO_* environment; start nothing");
  app.prefix_command();
}

// CLI11's own stops (--help, --version, a malformed option) fill `result` and return false.
bool parseArguments(CLI::App& app, int argc, const char* const* argv, ParsedCommandLine& result) {
  std::vector<std::string> args = normalizeArguments(argc, argv);
  // CLI11 parses a reversed vector (it pops from the back).
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  std::ostringstream out;
  std::ostringstream err;
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    result.exitNow = true;
    result.exitCode = app.exit(e, out, err);
    result.stdoutText = out.str();
    result.stderrText = err.str();
    return false;
  }
  return true;
}

// --check-build and --help-env print their reports and exit without a command.
void reportAndExit(const RawArguments& raw, ParsedCommandLine& result) {
  result.exitNow = true;
  result.exitCode = 0;
  result.stdoutText = raw.checkBuild ? checkBuildReport() : "";
  result.showTopology = raw.checkBuild;
  if (raw.helpEnv) result.stdoutText += helpEnvTable();
}

// The command follows the options, after an optional "--".
std::vector<std::string> commandAfterOptions(const CLI::App& app) {
  std::vector<std::string> command = app.remaining();
  if (!command.empty() && command.front() == "--") command.erase(command.begin());
  return command;
}

// Checks the options against each other; an elastic job with a discovery script and no
// --min-np gets --min-np 1.
Status checkAndDeriveOptions(LaunchOptions& options, bool slurmAllocation) {
  if (options.command.empty()) {
    return Status(Code::kInvalidArgument,
                  "no command given; usage: kolorun -np N [options] [--] command [args...]");
  }
  const bool srunSlots = options.launcher == "srun" ||
                         (options.launcher.empty() && slurmAllocation && !options.useMpirun);
  if (options.np == 0 && options.hostList.empty() && options.hostfile.empty() && !srunSlots) {
    return Status(Code::kInvalidArgument,
                  "-np is required (or -H/--hostfile, for one rank per slot)");
  }
  if (options.minNp > 0 && options.np > 0 && options.minNp > options.np) {
    return makeStatus(Code::kInvalidArgument, "--min-np {} is more than -np {}", options.minNp,
                      options.np);
  }
  if (!options.hostDiscoveryScript.empty() && options.minNp == 0) options.minNp = 1;
  if (options.maxNp > 0 && options.np > 0 && options.maxNp < options.np) {
    return makeStatus(Code::kInvalidArgument, "--max-np {} is less than -np {}", options.maxNp,
                      options.np);
  }
  if (options.minNp > 0 && options.useMpirun) {
    return Status(Code::kInvalidArgument,
                  "--min-np needs kolorun to supervise the ranks; it cannot be used with --mpi");
  }
  return Status::ok();
}

// --ranks-filter and -x values, parsed into options.
Status parseRawValues(const RawArguments& raw, LaunchOptions& options) {
  if (!raw.ranksFilter.empty()) {
    KOLO_ASSIGN_OR_RETURN(options.ranksFilter, parseRankList(raw.ranksFilter));
  }
  for (const std::string& text : raw.xSettings) {
    KOLO_ASSIGN_OR_RETURN(EnvSetting setting, parseEnvSetting(text));
    options.env.push_back(std::move(setting));
  }
  return Status::ok();
}

void usageError(const std::string& message, ParsedCommandLine& result) {
  result.exitNow = true;
  result.exitCode = 2;
  result.stderrText = fmt::format("kolorun: {}\nRun with --help for more information.\n", message);
}

}  // namespace

ParsedCommandLine parseCommandLine(int argc, const char* const* argv, bool slurmAllocation) {
  ParsedCommandLine result;
  LaunchOptions& options = result.options;
  RawArguments raw;
  CLI::App app{
      "kolorun: start N ranks of a Kolo job on this host or on -H/--hostfile hosts (local ones\n"
      "directly, others through ssh), host the job's authenticated rendezvous store, stream\n"
      "their output with [rank]<stdout>: prefixes, and stop the whole job when one rank fails.",
      "kolorun"};
  declareOptions(app, options, raw);
  if (!parseArguments(app, argc, argv, result)) return result;
  if (raw.checkBuild || raw.helpEnv) {
    reportAndExit(raw, result);
    return result;
  }
  if (raw.status) {
    result.askStatus = true;
    result.statusPid = raw.statusPid;
    return result;
  }
  options.command = commandAfterOptions(app);
  Status status = checkAndDeriveOptions(options, slurmAllocation);
  if (status.isOk()) status = parseRawValues(raw, options);
  if (!status.isOk()) usageError(status.message(), result);
  return result;
}

}  // namespace kolo::launcher
