// Status and Expected<T>: how every internal Kolo function reports failure.
// Exceptions are used only at the edges (valueOrThrow(), Python, C++ API). The types live in
// status_types.h (no fmt); this header adds formatted construction and the early-return macros.
#pragma once

#include <fmt/format.h>

#include <utility>

#include "kolo/base/status_types.h"

namespace kolo {

template <typename... Args>
Status makeStatus(Code code, fmt::format_string<Args...> format, Args&&... args) {
  return Status(code, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace kolo

#define KOLO_CONCAT_INNER(a, b) a##b
#define KOLO_CONCAT(a, b) KOLO_CONCAT_INNER(a, b)

#define KOLO_RETURN_IF_ERROR(expr)                 \
  do {                                             \
    ::kolo::Status kolo_status_ = (expr);          \
    if (!kolo_status_.isOk()) return kolo_status_; \
  } while (0)

#define KOLO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.hasValue()) return tmp.status();        \
  lhs = std::move(tmp).value()

// KOLO_ASSIGN_OR_RETURN(auto x, functionReturningExpected());
#define KOLO_ASSIGN_OR_RETURN(lhs, expr) \
  KOLO_ASSIGN_OR_RETURN_IMPL(KOLO_CONCAT(kolo_expected_, __LINE__), lhs, expr)
