#include "kolo/base/settings_report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "kolo/base/env.h"
#include "kolo/base/logging.h"
#include "kolo/base/settings.h"

namespace kolo {
namespace {

// A suggestion further than this from every declared name is a guess, not a typo's fix.
constexpr size_t kMaxSuggestionDistance = 4;

struct Row {
  std::string name;
  std::string second;
  std::string third;
  std::string meaning;
};

std::string formatRows(const std::vector<Row>& rows, const Row& header) {
  size_t w1 = header.name.size(), w2 = header.second.size(), w3 = header.third.size();
  for (const Row& r : rows) {
    w1 = std::max(w1, r.name.size());
    w2 = std::max(w2, r.second.size());
    w3 = std::max(w3, r.third.size());
  }
  std::string out;
  auto line = [&](const Row& r) {
    out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {}\n", r.name, w1, r.second, w2, r.third, w3,
                       r.meaning);
  };
  line(header);
  for (const Row& r : rows) line(r);
  return out;
}

std::string meaningOf(const SettingDecl& d) {
  if (d.alias.empty()) return std::string(d.meaning);
  return fmt::format("{} (alias {})", d.meaning, d.alias);
}

std::string shownDefault(const SettingDecl& d) {
  if (!d.shownDefault.empty()) return std::string(d.shownDefault);
  if (!d.defaultValue.empty()) return std::string(d.defaultValue);
  return "-";
}

std::string typeText(const SettingDecl& d) {
  if (d.type == SettingType::kChoice) return std::string(d.choices);
  return settingTypeName(d.type);
}

// The text as the table shows values of this type; the text must be valid for it.
std::string normalized(const SettingDecl& d, const std::string& text) {
  switch (d.type) {
    case SettingType::kInt:
      return std::to_string(std::strtoll(text.c_str(), nullptr, 10));
    case SettingType::kSeconds:
    case SettingType::kMilliseconds:
      return fmt::format("{}", std::strtod(text.c_str(), nullptr));
    case SettingType::kBytes:
      return std::to_string(*parseByteSize(text));
    case SettingType::kChoice:
      return toLower(text);
    case SettingType::kBool: {
      const std::string lower = toLower(text);
      return lower == "1" || lower == "true" || lower == "yes" || lower == "on" ? "1" : "0";
    }
    case SettingType::kText:
    case SettingType::kAlgorithmSpec:
      break;
  }
  return text;
}

// Value and source of one setting as the environment gives it.
Row inEffect(const SettingDecl& d) {
  SettingSource source = settingSource(d);
  Row row{std::string(d.name), "", "", meaningOf(d)};
  if (d.secret) {
    row.second = source.text ? "(set)" : "(unset)";
    row.third = source.text ? std::string(source.variable) : "default";
    return row;
  }
  if (source.text && settingTextIsValid(d, *source.text)) {
    row.second = normalized(d, *source.text);
    row.third = std::string(source.variable);
    return row;
  }
  row.second =
      d.defaultValue.empty() ? shownDefault(d) : normalized(d, std::string(d.defaultValue));
  row.third = source.text
                  ? fmt::format("default ({}='{}' is malformed)", source.variable, *source.text)
                  : "default";
  return row;
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> previous(b.size() + 1), current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitute});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

}  // namespace

std::string settingsHelpTable() {
  std::vector<Row> rows;
  for (SettingOwner owner : {SettingOwner::kUser, SettingOwner::kLauncher}) {
    for (const SettingDecl& d : allSettings()) {
      if (d.owner == owner)
        rows.push_back({std::string(d.name), shownDefault(d), typeText(d), meaningOf(d)});
    }
  }
  std::string out = formatRows(rows, {"VARIABLE", "DEFAULT", "TYPE", "MEANING"});
  rows.clear();
  for (const SettingDecl& d : allSettings()) {
    if (d.owner == SettingOwner::kTooling) {
      rows.push_back({std::string(d.name), shownDefault(d), typeText(d), meaningOf(d)});
    }
  }
  out += "\nSet by Kolo's own scripts and tests (the library never reads them):\n";
  return out + formatRows(rows, {"VARIABLE", "DEFAULT", "TYPE", "MEANING"});
}

std::string settingsInEffectTable(std::span<const HeldSetting> held) {
  std::vector<Row> rows;
  for (const SettingDecl& d : allSettings()) {
    if (d.owner == SettingOwner::kTooling) continue;
    Row row = inEffect(d);
    for (const HeldSetting& h : held) {
      if (h.name == d.name && h.value != row.second) {
        row.second = h.value;
        row.third = "program";
      }
    }
    rows.push_back(std::move(row));
  }
  return formatRows(rows, {"VARIABLE", "VALUE", "SOURCE", "MEANING"});
}

std::string_view closestSettingName(std::string_view name) {
  std::string_view best;
  size_t bestDistance = SIZE_MAX;
  for (const SettingDecl& d : allSettings()) {
    const size_t distance = editDistance(name, d.name);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = d.name;
    }
  }
  return best;
}

std::optional<std::string> unknownSettingWarning(std::string_view name) {
  if (!name.starts_with("KOLO_") || findSetting(name) != nullptr) return std::nullopt;
  const std::string_view closest = closestSettingName(name);
  if (editDistance(name, closest) <= kMaxSuggestionDistance) {
    return fmt::format("{} is not a Kolo setting; did you mean {}?", name, closest);
  }
  return fmt::format("{} is not a Kolo setting (kolorun --help-env lists them all)", name);
}

std::vector<std::string> unknownSettingWarnings(const char* const* envp) {
  std::vector<std::string> warnings;
  for (; envp != nullptr && *envp != nullptr; ++envp) {
    const std::string_view entry(*envp);
    if (auto warning = unknownSettingWarning(entry.substr(0, entry.find('=')))) {
      warnings.push_back(std::move(*warning));
    }
  }
  return warnings;
}

void warnAboutUnknownSettings() {
  for (const std::string& warning : unknownSettingWarnings(environ)) {
    KOLO_LOG(kWarning, "settings", "{}", warning);
  }
}

}  // namespace kolo
