// The native stacks of threads blocked in Kolo (runtime/core/src/blocked_threads.h,
// native_stacks.h): a caller blocked in a handle's wait shows with its role and a frame of the
// wait; one that blocks the stack signal is named without hanging the capture; a program that
// owns the signal keeps it, and the section says why no stack was taken.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <thread>

#include "blocked_threads.h"
#include "kolo/core/handle.h"
#include "native_stacks.h"

namespace kolo::core {
namespace {

// A thread blocked in OpState::wait for `name` until release(); `blockSignal` masks Kolo's
// stack signal on it first.
class BlockedCaller {
 public:
  BlockedCaller(std::string name, bool blockSignal) : name_(std::move(name)) {
    thread_ = std::thread([this, blockSignal] {
      if (blockSignal) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGRTMIN + kStackSignalOffset);
        pthread_sigmask(SIG_BLOCK, &set, nullptr);
      }
      status_ = state_.wait(Deadline::afterSeconds(60), name_);
    });
  }
  ~BlockedCaller() { release(); }
  void release() {
    state_.complete(Status::ok());
    if (thread_.joinable()) thread_.join();
  }
  Status status() const { return status_; }
  std::thread& thread() { return thread_; }

 private:
  std::string name_;
  OpState state_;
  Status status_;
  std::thread thread_;
};

// The section once it lists `role` (the thread registers when it reaches its wait).
std::string sectionListing(const std::string& role) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string text;
  while (std::chrono::steady_clock::now() < deadline) {
    text = nativeStacksSection();
    if (text.find(role) != std::string::npos) return text;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return text;
}

TEST(NativeStacks, ShowACallerBlockedInAHandleWaitWithTheWaitFrame) {
  EXPECT_EQ(nativeStacksSection(),
            "# native stacks (threads blocked in Kolo, most recent call first): none\n");
  BlockedCaller caller("grad.native", false);
  const std::string text = sectionListing("caller waiting for 'grad.native'");
  EXPECT_NE(text.find(": 1 thread(s)\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("no stack"), std::string::npos) << text;
  EXPECT_NE(text.find("\n  #0 0x"), std::string::npos) << text;
  if (nativeStacksHaveSymbols()) {
    EXPECT_NE(text.find("kolo::core::OpState::wait("), std::string::npos) << text;
    EXPECT_NE(text.find("handle.cc:"), std::string::npos) << text;
    // The handler's own frames are not part of the stack.
    EXPECT_EQ(text.find("onStackSignal"), std::string::npos) << text;
  }
  caller.release();
  EXPECT_TRUE(caller.status().isOk()) << caller.status().toString();
  EXPECT_EQ(nativeStacksSection().find("grad.native"), std::string::npos);
}

TEST(NativeStacks, NameAThreadThatDoesNotAnswerWithoutWaitingForIt) {
  BlockedCaller deaf("grad.deaf", true);
  BlockedCaller hearing("grad.hearing", false);
  (void)sectionListing("caller waiting for 'grad.hearing'");
  (void)sectionListing("caller waiting for 'grad.deaf'");
  const auto start = std::chrono::steady_clock::now();
  const std::string text = nativeStacksSection();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 5.0) << text;
  const size_t deafAt = text.find("caller waiting for 'grad.deaf'");
  ASSERT_NE(deafAt, std::string::npos) << text;
  const std::string deafLine = text.substr(deafAt, text.find('\n', deafAt) - deafAt);
  EXPECT_NE(deafLine.find(": no stack (the thread did not answer Kolo's stack signal in time"),
            std::string::npos)
      << text;
  const size_t hearingAt = text.find("caller waiting for 'grad.hearing'");
  ASSERT_NE(hearingAt, std::string::npos) << text;
  EXPECT_EQ(text.substr(text.find('\n', hearingAt) + 1, 5), "  #0 ") << text;
}

TEST(NativeStacks, CountAWaitTakenUpAgainFromItsFirstSlice) {
  std::atomic<bool> stop{false};
  std::thread sliced([&stop] {
    while (!stop.load()) {
      BlockedInKolo blocked(BlockedInKolo::Kind::kCaller, "grad.sliced");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const BlockedStacks stacks = captureBlockedStacks();
  stop.store(true);
  sliced.join();
  ASSERT_EQ(stacks.threads.size(), 1u);
  EXPECT_EQ(stacks.threads[0].role, "caller waiting for 'grad.sliced'");
  EXPECT_GE(stacks.threads[0].seconds, 0.35);
}

std::atomic<bool> gInHandler{false};

void sleepingHandler(int) {
  gInHandler.store(true);
  timespec pause{0, 400 * 1000 * 1000};
  ::nanosleep(&pause, nullptr);
}

TEST(NativeStacks, ShowWhereAThreadWaitsWhileItRunsAnotherSignalHandler) {
  // A process-directed SIGUSR1 may land on a waiting thread: its stack is still the wait's.
  struct sigaction action {};
  action.sa_handler = sleepingHandler;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &action, nullptr), 0);
  BlockedCaller caller("grad.handled", false);
  (void)sectionListing("caller waiting for 'grad.handled'");
  ASSERT_EQ(pthread_kill(caller.thread().native_handle(), SIGUSR2), 0);
  while (!gInHandler.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::string text = sectionListing("caller waiting for 'grad.handled'");
  caller.release();
  signal(SIGUSR2, SIG_DFL);
  EXPECT_NE(text.find("\n  #0 0x"), std::string::npos) << text;
  EXPECT_EQ(text.find("sleepingHandler"), std::string::npos) << text;
  EXPECT_EQ(text.find("nanosleep"), std::string::npos) << text;
  if (nativeStacksHaveSymbols()) {
    EXPECT_NE(text.find("kolo::core::OpState::wait("), std::string::npos) << text;
  }
}

void ownHandler(int) {}

TEST(NativeStacks, LeaveTheSignalToAProgramThatOwnsIt) {
  EXPECT_EXIT(
      {
        struct sigaction action {};
        action.sa_handler = ownHandler;
        sigemptyset(&action.sa_mask);
        sigaction(SIGRTMIN + kStackSignalOffset, &action, nullptr);
        BlockedCaller caller("grad.owned", false);
        const std::string text = sectionListing("caller waiting for 'grad.owned'");
        struct sigaction after {};
        sigaction(SIGRTMIN + kStackSignalOffset, nullptr, &after);
        const bool kept = after.sa_handler == ownHandler;
        const bool said = text.find("# not taken: signal") != std::string::npos &&
                          text.find("has the program's own handler") != std::string::npos &&
                          text.find("\n  #0") == std::string::npos;
        caller.release();
        std::exit(kept && said ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace kolo::core
