// Per-job resources kolorun creates before spawning: the file store directory, the job id, a port
// for MASTER_PORT and the local host name.
//
// Thread: the launcher's main thread.
#pragma once

#include <string>

#include "kolo/base/status.h"

namespace kolo::launcher {

// A fresh private directory (mode 0700) under $TMPDIR or /tmp, removed with everything in it when
// this object is destroyed, so a finished job leaves no store files behind.
class ScopedTempDir {
 public:
  static Expected<ScopedTempDir> create(const std::string& namePrefix);
  ScopedTempDir(ScopedTempDir&& other) noexcept;
  ScopedTempDir& operator=(ScopedTempDir&& other) noexcept;
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  ~ScopedTempDir();

  const std::string& path() const { return path_; }
  // Removes the directory now; later calls and the destructor do nothing.
  void remove();

 private:
  explicit ScopedTempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// 32 hex digits from the kernel's random source: unique across concurrent jobs on a host.
Expected<std::string> makeJobId();

// A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close). Another
// process may take it before rank 0 binds; torchrun accepts the same race.
Expected<int> pickFreePort();

std::string localHostname();

}  // namespace kolo::launcher
