// Sets an environment variable for one scope and restores the previous value (or its absence)
// on exit, so a test that selects behaviour through KOLO_* variables leaves none behind.
// Thread: setenv is not thread-safe; use it on the test thread while no rank threads run.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace kolo::test {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace kolo::test
