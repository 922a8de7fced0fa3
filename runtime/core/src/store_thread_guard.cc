#include "store_thread_guard.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>

namespace kolo::core {
namespace {

std::atomic<bool> gExiting{false};
std::mutex gRunningMutex;
std::condition_variable gRunningDone;
int gRunning = 0;  // threads between enterStoreThread() and leaveStoreThread()

void waitForStoreThreadsAtExit() {
  gExiting.store(true);
  std::unique_lock lock(gRunningMutex);
  gRunningDone.wait_for(lock, std::chrono::seconds(5), [] { return gRunning == 0; });
}

}  // namespace

void enterStoreThread() {
  static const bool registered = std::atexit(waitForStoreThreadsAtExit) == 0;
  (void)registered;
  std::lock_guard lock(gRunningMutex);
  ++gRunning;
}

void leaveStoreThread() {
  std::lock_guard lock(gRunningMutex);
  --gRunning;
  gRunningDone.notify_all();
}

bool storeThreadsExiting() {
  return gExiting.load();
}

}  // namespace kolo::core
