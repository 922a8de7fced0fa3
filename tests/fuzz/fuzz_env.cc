// Fuzz target: the environment parsers every KOLO_* knob goes through (runtime/base/env.h), the
// KOLO_FAULT_INJECT spec parser, and the Deadline that the timeouts among them end in.
// Properties: parseByteSize returns exactly the value a 128-bit reference computes, or nullopt
// when the text is malformed or the value does not fit in 64 bits; splitString never returns an
// empty part or one holding the separator, and its parts rejoined are the text without empty
// fields; envInt/envDouble/envBool read what strtoll/strtod/the boolean words say, or fall back;
// a deadline built from any parsed number of seconds is well defined.
// Input: u8 separator | the text (used as a byte size, a split input and an environment value).
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "fuzz_input.h"
#include "kolo/base/deadline.h"
#include "kolo/base/env.h"
#include "kolo/base/fault_injection.h"

namespace {

using kolo::fuzz::FuzzInput;

std::optional<uint64_t> referenceByteSize(std::string_view text) {
  size_t i = 0;
  unsigned __int128 value = 0;
  bool overflow = false;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    value = value * 10 + static_cast<unsigned>(text[i] - '0');
    if (value > UINT64_MAX) overflow = true, value = UINT64_MAX;
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string suffix = kolo::toLower(text.substr(i));
  int shift = -1;
  if (suffix.empty() || suffix == "b") shift = 0;
  if (suffix == "k" || suffix == "kb" || suffix == "kib") shift = 10;
  if (suffix == "m" || suffix == "mb" || suffix == "mib") shift = 20;
  if (suffix == "g" || suffix == "gb" || suffix == "gib") shift = 30;
  if (shift < 0 || overflow) return std::nullopt;
  value <<= shift;
  if (value > UINT64_MAX) return std::nullopt;
  return static_cast<uint64_t>(value);
}

void checkDeadline(double seconds) {
  kolo::Deadline deadline = kolo::Deadline::afterSeconds(seconds);
  (void)deadline.expired();
  (void)deadline.remaining();
  if (seconds > 0 && std::isfinite(seconds) && seconds < 1e6) {
    FUZZ_CHECK(!deadline.isNever(), "a deadline of %g s is never", seconds);
  }
  // A century or more, infinity and NaN mean "no deadline" (see Deadline::afterSeconds).
  if (!(seconds < 100.0 * 365 * 24 * 3600)) {
    FUZZ_CHECK(deadline.isNever(), "a deadline of %g s is not never", seconds);
  }
}

// KOLO_FAULT_INJECT: a parsed spec is within its documented ranges, and the form describe()
// prints (in logs, for users to copy) parses back to the same spec.
void checkFaultSpecs(std::string_view text) {
  auto specs = kolo::FaultSpec::parseList(text);
  if (!specs.hasValue()) {
    FUZZ_CHECK(specs.status().code() == kolo::Code::kInvalidArgument, "fault spec error code %d",
               static_cast<int>(specs.status().code()));
    FUZZ_CHECK(specs.status().message().find("KOLO_FAULT_INJECT") != std::string::npos,
               "fault spec error does not name the variable: %s", specs.status().message().c_str());
    return;
  }
  for (const kolo::FaultSpec& spec : specs.value()) {
    FUZZ_CHECK(spec.rank >= 0 && spec.rank <= (1 << 24), "rank %d", spec.rank);
    FUZZ_CHECK(spec.seq >= -1, "seq %lld", static_cast<long long>(spec.seq));
    FUZZ_CHECK(spec.action != kolo::FaultAction::kCorrupt ||
                   (spec.phase != kolo::FaultPhase::kAny &&
                    spec.phase != kolo::FaultPhase::kFusionCopy),
               "corrupt at a phase where nothing crosses a transport");
    if (spec.seq < 0) continue;  // describe() shows "seq=any", which is not an input form
    const std::string shown = spec.describe();
    auto again = kolo::FaultSpec::parse(shown);
    FUZZ_CHECK(again.hasValue(), "'%s' does not parse: %s", shown.c_str(),
               again.status().message().c_str());
    FUZZ_CHECK(again.value().describe() == shown, "'%s' parses as '%s'", shown.c_str(),
               again.value().describe().c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const char separator = static_cast<char>(in.u8());
  const std::string text(in.rest());

  auto bytes = kolo::parseByteSize(text);
  auto want = referenceByteSize(text);
  FUZZ_CHECK(bytes == want, "parseByteSize('%s'): %s%llu, expected %s%llu", text.c_str(),
             bytes ? "" : "nullopt ", static_cast<unsigned long long>(bytes.value_or(0)),
             want ? "" : "nullopt ", static_cast<unsigned long long>(want.value_or(0)));

  std::string joined;
  std::string expected;
  for (const std::string& part : kolo::splitString(text, separator)) {
    FUZZ_CHECK(!part.empty(), "splitString gave an empty part");
    FUZZ_CHECK(part.find(separator) == std::string::npos, "a part holds the separator");
    joined += part;
  }
  for (char c : text) {
    if (c != separator) expected.push_back(c);
  }
  FUZZ_CHECK(joined == expected, "splitString lost or invented bytes");
  FUZZ_CHECK(kolo::toLower(text).size() == text.size(), "toLower changed the length");

  // Environment values cannot hold a NUL byte; the text up to the first one is what a user
  // could set.
  const std::string value = text.substr(0, text.find('\0'));
  ::setenv("KOLO_FUZZ_VALUE", value.c_str(), 1);
  const int64_t asInt = kolo::envInt("KOLO_FUZZ_VALUE", -7);
  const double asDouble = kolo::envDouble("KOLO_FUZZ_VALUE", 2.5);
  const bool asBool = kolo::envBool("KOLO_FUZZ_VALUE", true);
  if (value.empty()) {
    FUZZ_CHECK(asInt == -7 && asDouble == 2.5 && asBool, "an empty variable is not unset");
  }
  if (!kolo::getEnv("KOLO_FUZZ_UNSET", {"KOLO_FUZZ_VALUE"}).has_value()) {
    FUZZ_CHECK(value.empty(), "the alias was not consulted");
  }
  ::unsetenv("KOLO_FUZZ_VALUE");
  // Every timeout knob ends in Deadline::afterSeconds(envDouble(...)).
  checkDeadline(asDouble);
  checkDeadline(static_cast<double>(asInt));
  checkFaultSpecs(text);
  return 0;
}
