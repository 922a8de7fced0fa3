// Settings: every KOLO_* environment variable Kolo reads or sets is declared once, in
// runtime/base/src/settings_table.cc (name, Horovod alias, type, default, meaning), in the spirit
// of NCCL's NCCL_PARAM. Code reads a setting only through the readers below, by its declared
// name: the variable first, then its alias, parsed by the declared type. A malformed value logs
// one warning naming the variable and the text, and the declared default is used instead.
//
// Reading a name that is not declared, or with a reader of another type, is a programming error:
// the reader prints what went wrong and aborts, so any test that reaches the read fails at once;
// tests/lint/check_settings.py also finds every KOLO_* name the sources read and fails on one
// missing from the table, so it does not wait for a test to reach the read.
//
// The owner of a setting reads it once when it is built (EngineConfig, WorldSpec, TcpOptions,
// the launcher's SupervisorOptions, ...), never on a hot path.
// Thread: any (the table is constant; the readers only read the environment).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "kolo/base/status.h"

namespace kolo {

enum class SettingType : uint8_t {
  kText,           // any text; the owner parses it (a path, a store URL, a fault list)
  kInt,            // decimal integer
  kSeconds,        // decimal number of seconds, e.g. 2.5
  kMilliseconds,   // decimal number of milliseconds
  kBool,           // 1/0, true/false, yes/no, on/off (any case)
  kBytes,          // byte size: 4096, 64K, 256M, 1G
  kChoice,         // one of SettingDecl::choices (any case)
  kAlgorithmSpec,  // auto, one algorithm name, or per size range; the algorithm registry parses it
};

// Who puts the variable in a process's environment.
enum class SettingOwner : uint8_t {
  kUser,      // a user's knob
  kLauncher,  // kolorun (or another launcher) exports it to every rank
  kTooling,   // Kolo's own scripts and tests; never read by the library
};

struct SettingDecl {
  std::string_view name;
  std::string_view alias;  // Horovod's spelling of the same knob; empty if none
  SettingType type = SettingType::kText;
  // What an unset variable means. The typed readers parse it; empty means "no default": the
  // owner decides (see meaning) and reads it with an ...IfSet reader.
  std::string_view defaultValue;
  std::string_view meaning;
  std::string_view choices;       // kChoice: the allowed values, separated by '|'
  std::string_view shownDefault;  // how tables show the default when defaultValue says too little
  SettingOwner owner = SettingOwner::kUser;
  bool secret = false;  // never printed: tables say "(set)"
};

// "int", "seconds", "bytes", ...
const char* settingTypeName(SettingType type);

// Every declaration, in the order tables print them.
std::span<const SettingDecl> allSettings();
// nullptr when `name` is not declared (aliases are not names).
const SettingDecl* findSetting(std::string_view name);

// Where the value in effect comes from, without parsing it (reports use this).
struct SettingSource {
  std::optional<std::string> text;  // the variable's text, else its alias's; nullopt if neither
  std::string_view variable;        // the name or alias that held `text`; empty if unset
};
SettingSource settingSource(const SettingDecl& decl);

// True when `text` parses as the declaration's type (text and algorithm specs always do; their
// owners validate them).
bool settingTextIsValid(const SettingDecl& decl, std::string_view text);

// Any type: the set text (variable, else alias) or nullopt. No default, no validation.
std::optional<std::string> settingText(std::string_view name);
// kText: the set text, else the declared default.
std::string settingTextOrDefault(std::string_view name);

// Typed readers: the parsed value, else the declared default (malformed: one warning).
int64_t settingInt(std::string_view name);
double settingSeconds(std::string_view name);
double settingMilliseconds(std::string_view name);
bool settingBool(std::string_view name);
uint64_t settingBytes(std::string_view name);
// kChoice: the value in lower case when it is one of the choices, else the declared default.
std::string settingChoice(std::string_view name);
// kChoice whose bad value must stop the job instead: kInvalidArgument naming the variable, its
// text and the choices ("KOLO_TRANSPORT is 'x'; expected auto, shm or tcp").
Expected<std::string> settingChoiceChecked(std::string_view name);

// For declarations without a default: nullopt when unset or malformed (one warning).
std::optional<int64_t> settingIntIfSet(std::string_view name);
std::optional<uint64_t> settingBytesIfSet(std::string_view name);

}  // namespace kolo
