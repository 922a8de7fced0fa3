// Tables and checks over the settings table (kolo/base/settings.h): what `kolorun --help-env`
// and KOLO_PRINT_CONFIG=1 print, and the warning for a KOLO_* variable that is not a setting
// (a typo such as KOLO_FUSION_TRESHOLD would otherwise be ignored in silence).
// Thread: any (pure functions of the table and the environment they are given).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kolo {

// VARIABLE  DEFAULT  TYPE  MEANING: one row per declaration, the users' and kolorun's first,
// then those only Kolo's scripts and tests set.
std::string settingsHelpTable();

// A value its owner holds, formatted as the table formats values (integers and byte sizes in
// decimal, seconds as "{}" formats a double, bools as 1/0). Where it differs from what the
// environment gives, the table shows it with the source "program".
struct HeldSetting {
  std::string_view name;
  std::string value;
};

// VARIABLE  VALUE  SOURCE  MEANING for every setting the library reads or kolorun exports:
// the value in effect, and whether it came from the variable, its Horovod alias, the default
// (also when the set text was malformed) or the program. Secrets show "(set)".
std::string settingsInEffectTable(std::span<const HeldSetting> held = {});

// The declared name nearest to `name` by edit distance.
std::string_view closestSettingName(std::string_view name);

// For a KOLO_* name that is not declared: "KOLO_FUSION_TRESHOLD is not a Kolo setting; did you
// mean KOLO_FUSION_THRESHOLD?". nullopt for declared names and names without the KOLO_ prefix.
std::optional<std::string> unknownSettingWarning(std::string_view name);
// One line per KOLO_* variable in `envp` (NAME=VALUE entries, null-terminated) that is not
// declared: "KOLO_FUSION_TRESHOLD is not a Kolo setting; did you mean KOLO_FUSION_THRESHOLD?".
std::vector<std::string> unknownSettingWarnings(const char* const* envp);
// Logs unknownSettingWarnings(environ) as warnings.
void warnAboutUnknownSettings();

}  // namespace kolo
