// processGone: whether the process behind a shared-memory peer has exited. Every rank writes
// its pid into its control block at bootstrap; a waiter that hears nothing from a peer asks the
// kernel about that pid. A zombie (exited, not yet reaped by its launcher) counts as gone.
// Cost: one kill(2), plus one small /proc read while the process still exists; callers probe
// at most every few tens of milliseconds, and only while parked.
// Thread: any.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "fmt/format.h"

namespace kolo::shm {

inline bool processGone(int pid) {
  if (pid <= 0) return false;  // not published yet: nothing to judge
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  const std::string path = fmt::format("/proc/{}/stat", pid);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  // "pid (comm) S ...": the state follows the last ')'; the name may hold ')' itself.
  const char* close = std::strrchr(buf, ')');
  return close != nullptr && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X');
}

}  // namespace kolo::shm
