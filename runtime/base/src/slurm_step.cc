#include "kolo/base/slurm_step.h"

#include <charconv>

#include "kolo/base/env.h"

namespace kolo {
namespace {

Status badList(std::string_view list, std::string_view why) {
  return makeStatus(Code::kInvalidArgument, "Slurm host list '{}': {}", list, why);
}

std::optional<long> parseCount(std::string_view text) {
  long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

// One bracket body "1-3,07,9" -> the numbers as text, each range padded to its first bound's
// width ("07-10" -> 07 08 09 10), as Slurm writes them.
Expected<std::vector<std::string>> expandRanges(std::string_view list, std::string_view body) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= body.size()) {
    size_t comma = body.find(',', start);
    if (comma == std::string_view::npos) comma = body.size();
    std::string_view item = body.substr(start, comma - start);
    size_t dash = item.find('-');
    std::string_view lowText = item.substr(0, dash);
    std::string_view highText = dash == std::string_view::npos ? lowText : item.substr(dash + 1);
    auto low = parseCount(lowText);
    auto high = parseCount(highText);
    if (item.empty() || !low || !high) {
      return badList(list, fmt::format("'{}' is not a number or a range of numbers", item));
    }
    if (*high < *low) return badList(list, fmt::format("the range '{}' is reversed", item));
    if (*high - *low > 100000)
      return badList(list, fmt::format("the range '{}' is too long", item));
    for (long v = *low; v <= *high; ++v) out.push_back(fmt::format("{:0{}}", v, lowText.size()));
    start = comma + 1;
  }
  return out;
}

// One host expression without top-level commas: "r[1-2]n[01-02]".
Status expandHost(std::string_view list, std::string_view host, std::vector<std::string>& out) {
  std::vector<std::string> partial = {""};
  size_t pos = 0;
  while (pos < host.size()) {
    size_t open = host.find('[', pos);
    std::string_view literal = host.substr(pos, open == std::string_view::npos ? open : open - pos);
    if (literal.find(']') != std::string_view::npos) return badList(list, "unbalanced ']'");
    for (auto& p : partial) p += literal;
    if (open == std::string_view::npos) break;
    size_t close = host.find(']', open);
    if (close == std::string_view::npos) return badList(list, "unbalanced '['");
    KOLO_ASSIGN_OR_RETURN(auto numbers,
                          expandRanges(list, host.substr(open + 1, close - open - 1)));
    std::vector<std::string> next;
    for (const auto& p : partial) {
      for (const auto& n : numbers) next.push_back(p + n);
    }
    partial = std::move(next);
    pos = close + 1;
  }
  out.insert(out.end(), partial.begin(), partial.end());
  return Status::ok();
}

Expected<int> intVariable(const char* name) {
  auto text = getEnv(name);
  if (!text) return makeStatus(Code::kInvalidArgument, "{} is not set inside a Slurm step", name);
  auto value = parseCount(*text);
  if (!value || *value > 1 << 24) {
    return makeStatus(Code::kInvalidArgument, "{} is '{}', not a non-negative integer", name,
                      *text);
  }
  return static_cast<int>(*value);
}

}  // namespace

Expected<std::vector<std::string>> expandSlurmHostList(std::string_view list) {
  std::vector<std::string> hosts;
  if (list.empty()) return badList(list, "empty");
  size_t start = 0;
  int depth = 0;
  for (size_t i = 0; i <= list.size(); ++i) {
    char c = i < list.size() ? list[i] : ',';
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (depth < 0 || depth > 1) return badList(list, "unbalanced or nested brackets");
    if (c == ',' && depth == 0) {
      if (i == start) return badList(list, "an empty host name");
      KOLO_RETURN_IF_ERROR(expandHost(list, list.substr(start, i - start), hosts));
      start = i + 1;
    }
  }
  if (depth != 0) return badList(list, "unbalanced '['");
  return hosts;
}

Expected<std::vector<int>> expandSlurmTaskCounts(std::string_view counts) {
  std::vector<int> out;
  size_t start = 0;
  while (start <= counts.size()) {
    size_t comma = counts.find(',', start);
    if (comma == std::string_view::npos) comma = counts.size();
    std::string_view item = counts.substr(start, comma - start);
    std::string_view countText = item;
    std::optional<long> repeat = 1;
    if (size_t paren = item.find("(x"); paren != std::string_view::npos && item.ends_with(')')) {
      countText = item.substr(0, paren);
      repeat = parseCount(item.substr(paren + 2, item.size() - paren - 3));
    }
    auto count = parseCount(countText);
    if (!count || !repeat || *repeat < 1 || *repeat > 1 << 20) {
      return makeStatus(Code::kInvalidArgument,
                        "Slurm task counts '{}': '{}' is not COUNT or COUNT(xREPEAT)", counts,
                        item);
    }
    out.insert(out.end(), static_cast<size_t>(*repeat), static_cast<int>(*count));
    start = comma + 1;
  }
  return out;
}

Expected<std::optional<SlurmStep>> slurmStepFromEnv() {
  if (!getEnv("SLURM_STEP_ID") || !getEnv("SLURM_PROCID")) return std::optional<SlurmStep>();
  SlurmStep step;
  step.jobId = getEnv("SLURM_JOB_ID").value_or("");
  step.stepId = *getEnv("SLURM_STEP_ID");
  step.nodeName = getEnv("SLURMD_NODENAME").value_or("");
  KOLO_ASSIGN_OR_RETURN(step.rank, intVariable("SLURM_PROCID"));
  KOLO_ASSIGN_OR_RETURN(
      step.size,
      intVariable(getEnv("SLURM_STEP_NUM_TASKS") ? "SLURM_STEP_NUM_TASKS" : "SLURM_NTASKS"));
  KOLO_ASSIGN_OR_RETURN(step.nodeId, intVariable("SLURM_NODEID"));
  KOLO_ASSIGN_OR_RETURN(step.localRank, intVariable("SLURM_LOCALID"));
  auto list = getEnv("SLURM_STEP_NODELIST");
  if (!list) list = getEnv("SLURM_NODELIST");
  if (!list) return Status(Code::kInvalidArgument, "SLURM_STEP_NODELIST is not set");
  KOLO_ASSIGN_OR_RETURN(step.nodes, expandSlurmHostList(*list));
  auto counts = getEnv("SLURM_STEP_TASKS_PER_NODE");
  if (!counts) counts = getEnv("SLURM_TASKS_PER_NODE");
  if (!counts) return Status(Code::kInvalidArgument, "SLURM_STEP_TASKS_PER_NODE is not set");
  KOLO_ASSIGN_OR_RETURN(step.tasksPerNode, expandSlurmTaskCounts(*counts));
  if (step.tasksPerNode.size() != step.nodes.size() ||
      static_cast<size_t>(step.nodeId) >= step.nodes.size() || step.rank >= step.size) {
    return makeStatus(Code::kInvalidArgument,
                      "the Slurm step's variables disagree: {} nodes ({}), task counts '{}', "
                      "node id {}, rank {} of {}",
                      step.nodes.size(), *list, *counts, step.nodeId, step.rank, step.size);
  }
  step.localSize = step.tasksPerNode[static_cast<size_t>(step.nodeId)];
  step.crossSize = 0;
  for (size_t n = 0; n < step.tasksPerNode.size(); ++n) {
    if (step.tasksPerNode[n] <= step.localRank) continue;
    if (n < static_cast<size_t>(step.nodeId)) ++step.crossRank;
    ++step.crossSize;
  }
  return std::optional<SlurmStep>(std::move(step));
}

int slurmStepTaskCount() {
  if (!getEnv("SLURM_STEP_ID")) return 0;
  auto tasks =
      intVariable(getEnv("SLURM_STEP_NUM_TASKS") ? "SLURM_STEP_NUM_TASKS" : "SLURM_NTASKS");
  return tasks ? *tasks : 0;
}

}  // namespace kolo
