#include "kolo/base/env.h"

#include <cctype>
#include <cstdlib>

namespace kolo {

std::optional<std::string> getEnv(const char* name, std::initializer_list<const char*> aliases) {
  if (const char* v = std::getenv(name); v && *v) return std::string(v);
  for (const char* alias : aliases) {
    if (const char* v = std::getenv(alias); v && *v) return std::string(v);
  }
  return std::nullopt;
}

int64_t envInt(const char* name, int64_t fallback, std::initializer_list<const char*> aliases) {
  auto v = getEnv(name, aliases);
  if (!v) return fallback;
  char* end = nullptr;
  long long parsed = std::strtoll(v->c_str(), &end, 10);
  return (end && *end == '\0') ? parsed : fallback;
}

double envDouble(const char* name, double fallback, std::initializer_list<const char*> aliases) {
  auto v = getEnv(name, aliases);
  if (!v) return fallback;
  char* end = nullptr;
  double parsed = std::strtod(v->c_str(), &end);
  return (end && *end == '\0') ? parsed : fallback;
}

bool envBool(const char* name, bool fallback, std::initializer_list<const char*> aliases) {
  auto v = getEnv(name, aliases);
  if (!v) return fallback;
  std::string s = toLower(*v);
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  return fallback;
}

std::optional<uint64_t> parseByteSize(std::string_view text) {
  if (text.empty()) return std::nullopt;
  size_t i = 0;
  uint64_t value = 0;
  // A value that does not fit in 64 bits is malformed, not silently wrapped to a small size.
  bool overflow = false;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    overflow = overflow || __builtin_mul_overflow(value, uint64_t{10}, &value) ||
               __builtin_add_overflow(value, static_cast<uint64_t>(text[i] - '0'), &value);
    ++i;
  }
  if (i == 0 || overflow) return std::nullopt;
  std::string suffix = toLower(text.substr(i));
  int shift = -1;
  if (suffix.empty() || suffix == "b") shift = 0;
  if (suffix == "k" || suffix == "kb" || suffix == "kib") shift = 10;
  if (suffix == "m" || suffix == "mb" || suffix == "mib") shift = 20;
  if (suffix == "g" || suffix == "gb" || suffix == "gib") shift = 30;
  if (shift < 0 || value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

std::vector<std::string> splitString(std::string_view text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) parts.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string toLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace kolo
