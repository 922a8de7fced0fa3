// Parsing of KOLO_<COLLECTIVE>_ALGO specs and KOLO_HIERARCHICAL_* switches (algorithm_policy.h).
#include "kolo/collectives/algorithm_policy.h"

#include <cctype>

#include "kolo/base/env.h"
#include "kolo/base/settings.h"
#include "kolo/collectives/algorithm_registry.h"

namespace kolo::coll {
namespace {

constexpr std::string_view kCollectiveNames[] = {"allreduce", "reducescatter", "allgather",
                                                 "broadcast", "alltoall",      "barrier"};
static_assert(std::size(kCollectiveNames) == kCollectiveKindCount);

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

// "LOW-HIGH", "LOW-", "-HIGH" with byte sizes such as 64K or 1M: [LOW, HIGH).
Status parseRange(std::string_view text, AlgorithmRule& rule) {
  const size_t dash = text.find('-');
  if (dash == std::string_view::npos) {
    return makeStatus(Code::kInvalidArgument, "'{}' is not a size range LOW-HIGH", text);
  }
  const std::string low = trim(text.substr(0, dash));
  const std::string high = trim(text.substr(dash + 1));
  if (!low.empty()) {
    auto value = parseByteSize(low);
    if (!value) return makeStatus(Code::kInvalidArgument, "'{}' is not a byte size", low);
    rule.minBytes = *value;
  }
  if (!high.empty()) {
    auto value = parseByteSize(high);
    if (!value) return makeStatus(Code::kInvalidArgument, "'{}' is not a byte size", high);
    rule.maxBytes = *value;
  }
  if (rule.minBytes >= rule.maxBytes) {
    return makeStatus(Code::kInvalidArgument, "range '{}' is empty (LOW must be below HIGH)", text);
  }
  return Status::ok();
}

// "name" or "name:LOW-HIGH"; "auto" is a rule that leaves its sizes to the cost model.
Expected<AlgorithmRule> parseRule(CollectiveKind kind, std::string_view item) {
  AlgorithmRule rule;
  const size_t colon = item.find(':');
  const std::string name = trim(item.substr(0, colon));
  if (name.empty()) return makeStatus(Code::kInvalidArgument, "'{}' names no algorithm", item);
  KOLO_ASSIGN_OR_RETURN(rule.algorithm, resolveAlgorithm(kind, name));
  if (colon != std::string_view::npos) {
    KOLO_RETURN_IF_ERROR(parseRange(item.substr(colon + 1), rule));
  }
  return rule;
}

}  // namespace

std::string_view collectiveName(CollectiveKind kind) {
  return kCollectiveNames[static_cast<size_t>(kind)];
}

std::string algorithmSettingName(CollectiveKind kind) {
  return "KOLO_" + upper(collectiveName(kind)) + "_ALGO";
}

std::string hierarchicalSettingName(CollectiveKind kind) {
  return "KOLO_HIERARCHICAL_" + upper(collectiveName(kind));
}

const AlgorithmEntry* CollectivePolicy::forcedFor(uint64_t bytes) const {
  for (const AlgorithmRule& rule : rules) {
    if (bytes >= rule.minBytes && bytes < rule.maxBytes) return rule.algorithm;
  }
  return nullptr;
}

Expected<std::vector<AlgorithmRule>> parseAlgorithmSpec(CollectiveKind kind,
                                                        std::string_view text) {
  std::vector<AlgorithmRule> rules;
  for (const std::string& item : splitString(text, ',')) {
    auto rule = parseRule(kind, item);
    if (!rule) {
      return rule.status().withContext(
          fmt::format("{}='{}' (expected auto, one of {} or rules like {}:0-64K,{}:64K-)",
                      algorithmSettingName(kind), text, algorithmNames(kind, ", "),
                      algorithmsFor(kind).front().name, algorithmsFor(kind).back().name));
    }
    // A rule that forces nothing over every size is plain "auto": drop it.
    if (rule->algorithm != nullptr || rule->minBytes != 0 || rule->maxBytes != UINT64_MAX) {
      rules.push_back(*rule);
    }
  }
  return rules;
}

Expected<std::optional<bool>> parseHierarchicalSwitch(std::string_view setting,
                                                      std::string_view text) {
  const std::string v = toLower(trim(text));
  if (v == "auto" || v.empty()) return std::optional<bool>();
  if (v == "1" || v == "on" || v == "true" || v == "yes") return std::optional<bool>(true);
  if (v == "0" || v == "off" || v == "false" || v == "no") return std::optional<bool>(false);
  return makeStatus(Code::kInvalidArgument,
                    "{}='{}' is not auto, 1 or 0 (or on/off, true/false, yes/no)", setting, text);
}

Expected<SelectionPolicy> selectionPolicyFromEnv() {
  SelectionPolicy policy;
  for (CollectiveKind kind : kAllCollectiveKinds) {
    const std::string name = algorithmSettingName(kind);
    if (auto text = settingText(name)) {
      KOLO_ASSIGN_OR_RETURN(policy.of(kind).rules, parseAlgorithmSpec(kind, *text));
    }
  }
  for (CollectiveKind kind : {CollectiveKind::kAllreduce, CollectiveKind::kAllgather}) {
    const std::string name = hierarchicalSettingName(kind);
    if (auto text = settingText(name)) {  // or its Horovod alias
      KOLO_ASSIGN_OR_RETURN(policy.of(kind).hierarchical, parseHierarchicalSwitch(name, *text));
    }
  }
  return policy;
}

}  // namespace kolo::coll
