// Kolo's threads carry names that top -H, gdb and /proc show.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include "kolo/base/thread_name.h"

namespace kolo {
namespace {

std::string commOf(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

// The name a new thread has after it named itself `name`.
std::string nameAfterNaming(const char* name) {
  std::string seen;
  std::thread t([&] {
    nameThisThread(name);
    seen = commOf(static_cast<pid_t>(::syscall(SYS_gettid)));
  });
  t.join();
  return seen;
}

TEST(ThreadName, NamesTheCallingThreadOnly) {
  const std::string before = commOf(static_cast<pid_t>(::syscall(SYS_gettid)));
  EXPECT_EQ(nameAfterNaming("kolo-test"), "kolo-test");
  EXPECT_EQ(commOf(static_cast<pid_t>(::syscall(SYS_gettid))), before);
}

TEST(ThreadName, CutsLongNamesAtTheKernelsLimit) {
  EXPECT_EQ(nameAfterNaming("kolo-a-name-longer-than-fifteen"), "kolo-a-name-lon");
}

}  // namespace
}  // namespace kolo
