#include "kolo/base/status.h"

namespace kolo {

const char* codeName(Code code) {
  switch (code) {
    case Code::kOk: return "kOk";
    case Code::kInvalidArgument: return "kInvalidArgument";
    case Code::kInvalidUsage: return "kInvalidUsage";
    case Code::kMismatch: return "kMismatch";
    case Code::kTimeout: return "kTimeout";
    case Code::kIoError: return "kIoError";
    case Code::kRemoteError: return "kRemoteError";
    case Code::kAborted: return "kAborted";
    case Code::kUnavailable: return "kUnavailable";
    case Code::kInternal: return "kInternal";
  }
  return "kUnknown";
}

std::string Status::toString() const {
  if (isOk()) return "kOk";
  return fmt::format("{}: {}", codeName(code_), message_);
}

Status Status::prefixed(std::string_view context) const {
  return Status(code_, fmt::format("{}: {}", context, message_));
}

}  // namespace kolo
