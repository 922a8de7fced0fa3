// Raw environment access, for variables that are not Kolo's (OMPI_*, PMI_*, SLURM_*), and string
// helpers. KOLO_* settings are read through their declarations instead (kolo/base/settings.h),
// which add Horovod's aliases, parsing by type and the KOLO_PRINT_CONFIG table.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kolo {

// The first of name, aliases... that is set (non-empty).
std::optional<std::string> getEnv(const char* name,
                                  std::initializer_list<const char*> aliases = {});
int64_t envInt(const char* name, int64_t fallback, std::initializer_list<const char*> aliases = {});
double envDouble(const char* name, double fallback,
                 std::initializer_list<const char*> aliases = {});
bool envBool(const char* name, bool fallback, std::initializer_list<const char*> aliases = {});

// "64M", "1g", "4096", "8k" -> bytes. nullopt if malformed.
std::optional<uint64_t> parseByteSize(std::string_view text);
std::vector<std::string> splitString(std::string_view text, char separator);
std::string toLower(std::string_view text);

}  // namespace kolo
