// The readers of kolo/base/settings.h: look the name up, read the variable then its alias, parse
// by the declared type, warn once per read and fall back to the default when malformed.
#include "kolo/base/settings.h"

#include <cstdio>
#include <cstdlib>

#include "kolo/base/env.h"
#include "kolo/base/logging.h"

namespace kolo {
namespace {

// A read of an undeclared name, or with the wrong reader, is a bug in Kolo, not a user error:
// stop where it happens so the test that reaches it names the culprit.
[[noreturn]] void misuse(std::string_view name, const char* what) {
  std::fprintf(stderr,
               "KOLO internal error: setting %.*s %s (declare it in "
               "runtime/base/src/settings_table.cc and read it with its type's reader)\n",
               static_cast<int>(name.size()), name.data(), what);
  std::abort();
}

const SettingDecl& declared(std::string_view name, SettingType type, bool needsDefault) {
  const SettingDecl* decl = findSetting(name);
  if (decl == nullptr) misuse(name, "is read but not declared");
  if (decl->type != type) {
    misuse(name, fmt::format("is declared as {} but read as {}", settingTypeName(decl->type),
                             settingTypeName(type))
                     .c_str());
  }
  if (needsDefault && decl->defaultValue.empty()) {
    misuse(name, "has no declared default; read it with an ...IfSet reader");
  }
  return *decl;
}

std::optional<int64_t> parseInt(std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  const long long value = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || end == nullptr || *end != '\0') return std::nullopt;
  return value;
}

std::optional<double> parseNumber(std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  const double value = std::strtod(s.c_str(), &end);
  if (s.empty() || end == nullptr || *end != '\0') return std::nullopt;
  return value;
}

std::optional<bool> parseBool(std::string_view text) {
  const std::string s = toLower(text);
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  return std::nullopt;
}

bool isChoice(const SettingDecl& decl, std::string_view text) {
  const std::string lower = toLower(text);
  for (const std::string& choice : splitString(decl.choices, '|')) {
    if (choice == lower) return true;
  }
  return false;
}

// "auto, shm or tcp"
std::string choiceList(const SettingDecl& decl) {
  std::vector<std::string> choices = splitString(decl.choices, '|');
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += i + 1 == choices.size() ? " or " : ", ";
    out += choices[i];
  }
  return out;
}

std::string expectation(const SettingDecl& decl) {
  switch (decl.type) {
    case SettingType::kInt:
      return "an integer";
    case SettingType::kSeconds:
      return "a number of seconds";
    case SettingType::kMilliseconds:
      return "a number of milliseconds";
    case SettingType::kBool:
      return "a boolean (1/0, true/false, yes/no, on/off)";
    case SettingType::kBytes:
      return "a byte size (e.g. 67108864 or 64M)";
    case SettingType::kChoice:
      return choiceList(decl);
    case SettingType::kText:
    case SettingType::kAlgorithmSpec:
      break;
  }
  return "valid";
}

// The set text when it parses; otherwise one warning and nullopt.
std::optional<std::string> validText(const SettingDecl& decl) {
  SettingSource source = settingSource(decl);
  if (!source.text) return std::nullopt;
  if (settingTextIsValid(decl, *source.text)) return source.text;
  const std::string fallback = decl.defaultValue.empty()
                                   ? std::string("ignoring it")
                                   : fmt::format("using the default {}", decl.defaultValue);
  KOLO_LOG(kWarning, "settings", "{}='{}' is not {}; {}", source.variable, *source.text,
           expectation(decl), fallback);
  return std::nullopt;
}

// The set text when it parses, else the declared default.
std::string validTextOrDefault(const SettingDecl& decl) {
  return validText(decl).value_or(std::string(decl.defaultValue));
}

}  // namespace

const char* settingTypeName(SettingType type) {
  switch (type) {
    case SettingType::kText:
      return "text";
    case SettingType::kInt:
      return "int";
    case SettingType::kSeconds:
      return "seconds";
    case SettingType::kMilliseconds:
      return "ms";
    case SettingType::kBool:
      return "bool";
    case SettingType::kBytes:
      return "bytes";
    case SettingType::kChoice:
      return "choice";
    case SettingType::kAlgorithmSpec:
      return "algorithm spec";
  }
  return "?";
}

SettingSource settingSource(const SettingDecl& decl) {
  if (auto v = getEnv(std::string(decl.name).c_str())) return {std::move(v), decl.name};
  if (!decl.alias.empty()) {
    if (auto v = getEnv(std::string(decl.alias).c_str())) return {std::move(v), decl.alias};
  }
  return {};
}

bool settingTextIsValid(const SettingDecl& decl, std::string_view text) {
  switch (decl.type) {
    case SettingType::kText:
    case SettingType::kAlgorithmSpec:
      return true;
    case SettingType::kInt:
      return parseInt(text).has_value();
    case SettingType::kSeconds:
    case SettingType::kMilliseconds:
      return parseNumber(text).has_value();
    case SettingType::kBool:
      return parseBool(text).has_value();
    case SettingType::kBytes:
      return parseByteSize(text).has_value();
    case SettingType::kChoice:
      return isChoice(decl, text);
  }
  return false;
}

std::optional<std::string> settingText(std::string_view name) {
  const SettingDecl* decl = findSetting(name);
  if (decl == nullptr) misuse(name, "is read but not declared");
  return settingSource(*decl).text;
}

std::string settingTextOrDefault(std::string_view name) {
  const SettingDecl& decl = declared(name, SettingType::kText, false);
  return settingSource(decl).text.value_or(std::string(decl.defaultValue));
}

int64_t settingInt(std::string_view name) {
  return *parseInt(validTextOrDefault(declared(name, SettingType::kInt, true)));
}

double settingSeconds(std::string_view name) {
  return *parseNumber(validTextOrDefault(declared(name, SettingType::kSeconds, true)));
}

double settingMilliseconds(std::string_view name) {
  return *parseNumber(validTextOrDefault(declared(name, SettingType::kMilliseconds, true)));
}

bool settingBool(std::string_view name) {
  return *parseBool(validTextOrDefault(declared(name, SettingType::kBool, true)));
}

uint64_t settingBytes(std::string_view name) {
  return *parseByteSize(validTextOrDefault(declared(name, SettingType::kBytes, true)));
}

std::string settingChoice(std::string_view name) {
  return toLower(validTextOrDefault(declared(name, SettingType::kChoice, true)));
}

Expected<std::string> settingChoiceChecked(std::string_view name) {
  const SettingDecl& decl = declared(name, SettingType::kChoice, true);
  SettingSource source = settingSource(decl);
  if (!source.text) return std::string(decl.defaultValue);
  if (!isChoice(decl, *source.text)) {
    return makeStatus(Code::kInvalidArgument, "{} is '{}'; expected {}", source.variable,
                      *source.text, choiceList(decl));
  }
  return toLower(*source.text);
}

std::optional<int64_t> settingIntIfSet(std::string_view name) {
  auto text = validText(declared(name, SettingType::kInt, false));
  return text ? parseInt(*text) : std::nullopt;
}

std::optional<uint64_t> settingBytesIfSet(std::string_view name) {
  auto text = validText(declared(name, SettingType::kBytes, false));
  return text ? parseByteSize(*text) : std::nullopt;
}

}  // namespace kolo
