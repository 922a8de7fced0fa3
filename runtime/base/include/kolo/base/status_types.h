// Code, Status, StatusError and Expected<T>: the error vocabulary every Kolo function returns,
// internal and public alike. It needs only the standard library, so the public kolo.hpp can
// include it without pulling in fmt; status.h adds makeStatus() and the KOLO_* macros.
// Thread: any (plain values).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kolo {

enum class Code : int {
  kOk = 0,
  kInvalidArgument = 1,  // the caller passed something malformed
  kInvalidUsage = 2,     // the call is not allowed now (before init, after shutdown, ...)
  kMismatch = 3,         // ranks disagree (dtype, shape, size, ...)
  kTimeout = 4,          // a deadline passed
  kIoError = 5,          // a transport failed (dead peer, broken connection)
  kRemoteError = 6,      // another rank reported an error
  kAborted = 7,          // the operation was cancelled (shutdown, abort)
  kUnavailable = 8,      // a resource or feature is not available
  kInternal = 9,         // a bug in Kolo
};

const char* codeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  bool isOk() const { return code_ == Code::kOk; }
  explicit operator bool() const { return isOk(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "kTimeout: waited 3 s for rank 2"
  std::string toString() const;
  // Prepends context: "allreduce: " + message (inline: every collective passes OK ones).
  Status withContext(std::string_view ctx) const { return isOk() ? Status{} : prefixed(ctx); }

 private:
  Status prefixed(std::string_view context) const;
  Code code_ = Code::kOk;
  std::string message_;
};

class StatusError : public std::runtime_error {
 public:
  explicit StatusError(Status status)
      : std::runtime_error(status.toString()), status_(std::move(status)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : data_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Expected(Status status) : data_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(data_).isOk()) {
      data_ = Status(Code::kInternal, "Expected constructed from an OK status");
    }
  }

  bool hasValue() const { return data_.index() == 0; }
  explicit operator bool() const { return hasValue(); }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T& operator*() & { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  Status status() const { return hasValue() ? Status::ok() : std::get<Status>(data_); }
  T valueOrThrow() && {
    if (!hasValue()) throw StatusError(std::get<Status>(data_));
    return std::get<T>(std::move(data_));
  }

 private:
  std::variant<T, Status> data_;
};

inline void throwIfError(const Status& status) {
  if (!status.isOk()) throw StatusError(status);
}

}  // namespace kolo
