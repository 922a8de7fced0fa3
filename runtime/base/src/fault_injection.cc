#include "kolo/base/fault_injection.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <utility>

#include "kolo/base/settings.h"

namespace kolo {
namespace fault_detail {
std::atomic<int> gState{0};
}  // namespace fault_detail

namespace {

struct Plan {
  std::mutex mutex;
  std::vector<FaultSpec> specs;
  std::vector<bool> fired;
  std::map<std::tuple<int, std::string, int>, int64_t> counts;  // (rank, op, domain) -> ops
  std::function<void(const FaultSpec&, FaultPhase)> hook;
  std::map<int, std::function<void(int)>> severs;
  int nextSever = 1;
  std::atomic<bool> severed{false};
  std::atomic<bool> corruptFrame{false};  // a data-phase corrupt waits for the next TCP frame
};

// Phases where bytes cross a transport: corrupt flips a control message (negotiation) or the
// next TCP data frame (the others).
bool corruptible(FaultPhase phase) {
  return phase == FaultPhase::kNegotiation || phase == FaultPhase::kReduceScatter ||
         phase == FaultPhase::kAllgather || phase == FaultPhase::kHierCross;
}

Plan& plan() {
  static Plan* p = new Plan;  // never destroyed: hooks may run during static destruction
  return *p;
}

struct CurrentOp {
  int depth = 0;
  bool counted = false;  // false for scopes that only hide inner ops
  int rank = -1;
  std::string op;
  int64_t first = 0;
  int64_t last = 0;  // exclusive
};
thread_local CurrentOp tCurrent;

struct NamedPhase {
  const char* name;
  FaultPhase phase;
};
constexpr NamedPhase kPhases[] = {{"any", FaultPhase::kAny},
                                  {"negotiation", FaultPhase::kNegotiation},
                                  {"fusion_copy", FaultPhase::kFusionCopy},
                                  {"reduce_scatter", FaultPhase::kReduceScatter},
                                  {"allgather", FaultPhase::kAllgather},
                                  {"hier_cross", FaultPhase::kHierCross}};
constexpr const char* kOps[] = {"allreduce", "allgather",     "broadcast",
                                "alltoall",  "reducescatter", "barrier"};

Expected<int64_t> parseInteger(std::string_view field, std::string_view value, int64_t min,
                               int64_t max) {
  std::string text(value);
  char* end = nullptr;
  errno = 0;
  long long parsed = text.empty() ? 0 : std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end == nullptr || *end != '\0' || errno != 0 || parsed < min ||
      parsed > max) {
    return makeStatus(Code::kInvalidArgument,
                      "KOLO_FAULT_INJECT: {}='{}' is not an integer in [{}, {}]", field, value, min,
                      max);
  }
  return static_cast<int64_t>(parsed);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status parseAction(std::string_view value, FaultSpec& spec) {
  const size_t colon = value.find(':');
  const std::string_view name = value.substr(0, colon);
  const std::string_view arg =
      colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1);
  const bool hasArg = colon != std::string_view::npos;
  auto noArgument = [&](FaultAction action) -> Status {
    if (hasArg) {
      return makeStatus(Code::kInvalidArgument,
                        "KOLO_FAULT_INJECT: action={} takes no argument (got '{}')", name, value);
    }
    spec.action = action;
    return Status::ok();
  };
  if (name == "kill") return noArgument(FaultAction::kKill);
  if (name == "stop") return noArgument(FaultAction::kStop);
  if (name == "abort") return noArgument(FaultAction::kAbort);
  if (name == "drop_conn" && !hasArg) {
    spec.action = FaultAction::kDropConn;
    spec.argument = -1;  // every connection
    return Status::ok();
  }
  if (name == "drop_conn") {
    KOLO_ASSIGN_OR_RETURN(spec.argument, parseInteger("action=drop_conn:S", arg, 0, 15));
    spec.action = FaultAction::kDropConn;
    return Status::ok();
  }
  if (name == "corrupt") return noArgument(FaultAction::kCorrupt);
  if (name == "exit" || name == "delay_ms") {
    if (!hasArg) {
      return makeStatus(Code::kInvalidArgument, "KOLO_FAULT_INJECT: action={} needs ':N' ({}:{})",
                        name, name, name == "exit" ? "3" : "500");
    }
    const bool isExit = name == "exit";
    KOLO_ASSIGN_OR_RETURN(spec.argument,
                          parseInteger(isExit ? "action=exit:N" : "action=delay_ms:N", arg,
                                       isExit ? 1 : 0, isExit ? 255 : 3'600'000));
    spec.action = isExit ? FaultAction::kExit : FaultAction::kDelay;
    return Status::ok();
  }
  return makeStatus(Code::kInvalidArgument,
                    "KOLO_FAULT_INJECT: action='{}' is not one of kill, stop, exit:N, abort, "
                    "drop_conn[:S], delay_ms:N, corrupt",
                    value);
}

void announce(const FaultSpec& spec, FaultPhase phase, const CurrentOp& op, int64_t seq) {
  const auto wall = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  // One write(2), so the line is whole even when the next instruction kills the process. The
  // wall-clock stamp lets the fault-matrix driver measure how long the survivors took.
  const std::string line =
      fmt::format("KOLO fault injection: rank {} pid {} fires {} at {} of {} #{} (wall_us={})\n",
                  op.rank, ::getpid(), spec.describe(), faultPhaseName(phase), op.op, seq, wall);
  (void)!::write(2, line.data(), line.size());
}

void act(const FaultSpec& spec, std::span<std::byte> payload) {
  switch (spec.action) {
    case FaultAction::kKill:
      ::kill(::getpid(), SIGKILL);
      break;
    case FaultAction::kStop:
      ::kill(::getpid(), SIGSTOP);
      break;
    case FaultAction::kExit:
      std::_Exit(static_cast<int>(spec.argument));
    case FaultAction::kAbort:
      std::abort();
    case FaultAction::kDelay:
      std::this_thread::sleep_for(std::chrono::milliseconds(spec.argument));
      break;
    case FaultAction::kCorrupt:
      // A flipped byte in transit: the receivers' checksum must catch it.
      if (!payload.empty()) {
        payload[payload.size() / 2] ^= std::byte{0x5a};
      } else {
        plan().corruptFrame.store(true);
      }
      break;
    case FaultAction::kDropConn: {
      Plan& p = plan();
      p.severed.store(true);
      std::vector<std::function<void(int)>> severs;
      {
        std::lock_guard lock(p.mutex);
        for (auto& [id, sever] : p.severs) severs.push_back(sever);
      }
      for (auto& sever : severs) sever(static_cast<int>(spec.argument));
      break;
    }
  }
}

void loadFromEnv() {
  Plan& p = plan();
  std::lock_guard lock(p.mutex);
  if (fault_detail::gState.load() != 0) return;
  auto text = settingText("KOLO_FAULT_INJECT");
  if (!text) {
    fault_detail::gState.store(1);
    return;
  }
  auto parsed = FaultSpec::parseList(*text);
  if (!parsed.hasValue()) {
    // A typo must not turn a fault test into a silent pass: faultPlanStatus() reports it and
    // the Engine refuses to start.
    std::fprintf(stderr, "KOLO %s\n", parsed.status().message().c_str());
    fault_detail::gState.store(1);
    return;
  }
  p.specs = std::move(parsed.value());
  p.fired.assign(p.specs.size(), false);
  fault_detail::gState.store(p.specs.empty() ? 1 : 2);
}

}  // namespace

const char* faultPhaseName(FaultPhase phase) {
  for (const NamedPhase& p : kPhases) {
    if (p.phase == phase) return p.name;
  }
  return "?";
}

const char* faultActionName(FaultAction action) {
  switch (action) {
    case FaultAction::kKill:
      return "kill";
    case FaultAction::kStop:
      return "stop";
    case FaultAction::kExit:
      return "exit";
    case FaultAction::kAbort:
      return "abort";
    case FaultAction::kDropConn:
      return "drop_conn";
    case FaultAction::kDelay:
      return "delay_ms";
    case FaultAction::kCorrupt:
      return "corrupt";
  }
  return "?";
}

Expected<FaultSpec> FaultSpec::parse(std::string_view text) {
  FaultSpec spec;
  bool haveRank = false;
  bool haveAction = false;
  text = trim(text);
  if (text.empty()) return Status(Code::kInvalidArgument, "KOLO_FAULT_INJECT: empty spec");
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return makeStatus(Code::kInvalidArgument,
                        "KOLO_FAULT_INJECT: '{}' is not field=value (fields: rank, op, seq, "
                        "phase, action)",
                        item);
    }
    const std::string_view field = trim(item.substr(0, eq));
    const std::string_view value = trim(item.substr(eq + 1));
    if (field == "rank") {
      KOLO_ASSIGN_OR_RETURN(int64_t r, parseInteger("rank", value, 0, 1 << 24));
      spec.rank = static_cast<int>(r);
      haveRank = true;
    } else if (field == "op") {
      bool known = value == "any";
      for (const char* op : kOps) known = known || value == op;
      if (!known) {
        return makeStatus(Code::kInvalidArgument,
                          "KOLO_FAULT_INJECT: op='{}' is not one of any, allreduce, allgather, "
                          "broadcast, alltoall, reducescatter, barrier",
                          value);
      }
      spec.op = value == "any" ? "" : std::string(value);
    } else if (field == "seq") {
      KOLO_ASSIGN_OR_RETURN(spec.seq, parseInteger("seq", value, 0, INT64_MAX));
    } else if (field == "phase") {
      bool known = false;
      for (const NamedPhase& p : kPhases) {
        if (value == p.name) {
          spec.phase = p.phase;
          known = true;
        }
      }
      if (!known) {
        return makeStatus(Code::kInvalidArgument,
                          "KOLO_FAULT_INJECT: phase='{}' is not one of any, negotiation, "
                          "fusion_copy, reduce_scatter, allgather, hier_cross",
                          value);
      }
    } else if (field == "action") {
      KOLO_RETURN_IF_ERROR(parseAction(value, spec));
      haveAction = true;
    } else {
      return makeStatus(Code::kInvalidArgument,
                        "KOLO_FAULT_INJECT: unknown field '{}' (fields: rank, op, seq, phase, "
                        "action)",
                        field);
    }
  }
  if (!haveRank) return Status(Code::kInvalidArgument, "KOLO_FAULT_INJECT: rank= is required");
  if (!haveAction) {
    return Status(Code::kInvalidArgument, "KOLO_FAULT_INJECT: action= is required");
  }
  if (spec.action == FaultAction::kCorrupt && !corruptible(spec.phase)) {
    // Control messages and TCP data frames are checksummed; a corrupt fault needs bytes that
    // cross a transport at a named phase.
    return Status(Code::kInvalidArgument,
                  "KOLO_FAULT_INJECT: action=corrupt needs phase=negotiation (a control message) "
                  "or reduce_scatter, allgather or hier_cross (the next TCP data frame)");
  }
  return spec;
}

Expected<std::vector<FaultSpec>> FaultSpec::parseList(std::string_view text) {
  std::vector<FaultSpec> specs;
  while (!trim(text).empty()) {
    const size_t semi = text.find(';');
    KOLO_ASSIGN_OR_RETURN(FaultSpec spec, parse(text.substr(0, semi)));
    specs.push_back(std::move(spec));
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
  }
  return specs;
}

std::string FaultSpec::describe() const {
  std::string action = faultActionName(this->action);
  if (this->action == FaultAction::kExit || this->action == FaultAction::kDelay ||
      (this->action == FaultAction::kDropConn && argument >= 0)) {
    action += fmt::format(":{}", argument);
  }
  return fmt::format("rank={},op={},seq={},phase={},action={}", rank, op.empty() ? "any" : op,
                     seq < 0 ? std::string("any") : std::to_string(seq), faultPhaseName(phase),
                     action);
}

namespace fault_detail {

bool openOpSlow(int rank, std::string_view op, int64_t count, int domain) {
  if (gState.load() == 0) loadFromEnv();
  if (gState.load() != 2) return false;
  CurrentOp& cur = tCurrent;
  if (cur.depth++ > 0) return true;
  cur.rank = rank;
  cur.op = op;
  cur.counted = !op.empty();
  if (cur.counted) {
    Plan& p = plan();
    std::lock_guard lock(p.mutex);
    int64_t& next = p.counts[{rank, cur.op, domain}];
    cur.first = next;
    next += count;
    cur.last = next;
  }
  return true;
}

void closeOpSlow() {
  CurrentOp& cur = tCurrent;
  if (cur.depth > 0) --cur.depth;
}

void fireSlow(FaultPhase phase, std::span<std::byte> payload) {
  if (gState.load() == 0) loadFromEnv();
  if (gState.load() != 2) return;
  const CurrentOp cur = tCurrent;
  if (cur.depth == 0 || !cur.counted) return;
  Plan& p = plan();
  FaultSpec chosen;
  int64_t seq = 0;
  std::function<void(const FaultSpec&, FaultPhase)> hook;
  {
    std::lock_guard lock(p.mutex);
    size_t i = 0;
    for (; i < p.specs.size(); ++i) {
      const FaultSpec& s = p.specs[i];
      if (p.fired[i] || s.rank != cur.rank) continue;
      if (!s.op.empty() && s.op != cur.op) continue;
      if (s.phase != FaultPhase::kAny && s.phase != phase) continue;
      if (s.seq >= 0 && (s.seq < cur.first || s.seq >= cur.last)) continue;
      if (s.action == FaultAction::kCorrupt && payload.empty() && phase == FaultPhase::kNegotiation) {
        continue;
      }
      break;
    }
    if (i == p.specs.size()) return;
    p.fired[i] = true;
    chosen = p.specs[i];
    seq = chosen.seq >= 0 ? chosen.seq : cur.first;
    hook = p.hook;
  }
  announce(chosen, phase, cur, seq);
  if (hook) {
    hook(chosen, phase);
    if (chosen.action == FaultAction::kCorrupt || chosen.action == FaultAction::kDropConn) {
      act(chosen, payload);
    }
    return;
  }
  act(chosen, payload);
}

}  // namespace fault_detail

int registerFaultSever(std::function<void(int stream)> sever) {
  Plan& p = plan();
  std::lock_guard lock(p.mutex);
  const int id = p.nextSever++;
  p.severs[id] = std::move(sever);
  return id;
}

void unregisterFaultSever(int id) {
  Plan& p = plan();
  std::lock_guard lock(p.mutex);
  p.severs.erase(id);
}

bool fault_detail::takeCorruptFrameSlow() {
  return plan().corruptFrame.exchange(false);
}

bool faultSevered() {
  return plan().severed.load(std::memory_order_relaxed);
}

Status faultPlanStatus() {
  auto text = settingText("KOLO_FAULT_INJECT");
  if (!text) return Status::ok();
  auto parsed = FaultSpec::parseList(*text);
  return parsed.hasValue() ? Status::ok() : parsed.status();
}

void setFaultPlanForTesting(std::vector<FaultSpec> specs) {
  Plan& p = plan();
  std::lock_guard lock(p.mutex);
  p.specs = std::move(specs);
  p.fired.assign(p.specs.size(), false);
  p.counts.clear();
  p.severed.store(false);
  fault_detail::gState.store(p.specs.empty() ? 1 : 2);
}

void setFaultActionHookForTesting(std::function<void(const FaultSpec&, FaultPhase)> hook) {
  Plan& p = plan();
  std::lock_guard lock(p.mutex);
  p.hook = std::move(hook);
}

}  // namespace kolo
