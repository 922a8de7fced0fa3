#include "kolo/launcher/launch_options.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <set>
#include <sstream>

namespace kolo::launcher {
namespace {

constexpr const char* kVersion = "0.1.0";

// CLI11 allows only one character after a single dash, so "-np" is rewritten to "--np" before
// parsing. Only kolorun's own options are scanned: the first non-option argument starts the
// command, whose own "-np" must reach it untouched.
std::vector<std::string> normalizeArguments(int argc, const char* const* argv) {
  static const std::set<std::string> kTakesValue = {"-np", "--np",      "-n",
                                                    "-x",  "--timeout", "--kill-grace",
                                                    "--bind-to"};
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

ParsedCommandLine parseCommandLine(int argc, const char* const* argv) {
  ParsedCommandLine result;
  LaunchOptions& options = result.options;
  std::vector<std::string> xSettings;

  CLI::App app{
      "kolorun: start N ranks of a Kolo job on this host, stream their output with\n"
      "[rank]<stdout>: prefixes, and stop the whole job when one rank fails.",
      "kolorun"};
  app.footer(
      "Usage: kolorun -np N [options] [--] command [args...]\n"
      "Exit code: the first failing rank's (128 + signal if killed), 124 on --timeout.");
  app.set_version_flag("--version", fmt::format("kolorun {}", kVersion));
  app.add_option("-n,--np", options.np, "number of ranks to start")
      ->required()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("-x", xSettings,
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
                 "core: bind local rank i to the i-th usable CPU (nothing when the host is "
                 "oversubscribed); none: leave placement to the scheduler")
      ->capture_default_str()
      ->check(CLI::IsMember({"core", "none"}));
  app.add_flag("--dry-run", options.dryRun,
               "print the rank map, commands and KOLO_* environment; start nothing");
  app.prefix_command();

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
    return result;
  }

  options.command = app.remaining();
  if (!options.command.empty() && options.command.front() == "--") {
    options.command.erase(options.command.begin());
  }
  auto fail = [&](const std::string& message) {
    result.exitNow = true;
    result.exitCode = 2;
    result.stderrText =
        fmt::format("kolorun: {}\nRun with --help for more information.\n", message);
    return result;
  };
  if (options.command.empty())
    return fail("no command given; usage: kolorun -np N [options] [--] command [args...]");
  for (const std::string& text : xSettings) {
    auto setting = parseEnvSetting(text);
    if (!setting) return fail(setting.status().message());
    options.env.push_back(std::move(setting).value());
  }
  return result;
}

}  // namespace kolo::launcher
