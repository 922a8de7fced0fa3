#include "flight_recorder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace kolo::core {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class FlightRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("kolo-flight-test." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(FlightRecorderTest, KeepsTheLastOpsAndDumpsThemOldestFirst) {
  FlightRecorder recorder(3, dir_.string(), 5);
  EXPECT_EQ(recorder.path(),
            (dir_ / ("kolo-flight.rank5.pid" + std::to_string(::getpid()) + ".txt")).string());
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(recorder.add(0, "grad." + std::to_string(i), "allreduce", 4096 * (i + 1), "5"));
  }
  recorder.update(ids[2], FlightRecorder::State::kDone);
  recorder.update(ids[3], FlightRecorder::State::kRunning, "all");
  recorder.update(ids[4], FlightRecorder::State::kNegotiating, "0,5 (missing 1)");
  recorder.update(ids[0], FlightRecorder::State::kFailed, "", "overwritten: ignored");
  ASSERT_TRUE(recorder.dump("test").isOk());
  const std::string text = readFile(recorder.path());
  EXPECT_NE(text.find("rank 5"), std::string::npos) << text;
  EXPECT_NE(text.find("test (last 3 ops"), std::string::npos) << text;
  EXPECT_EQ(text.find("grad.0"), std::string::npos) << text;
  EXPECT_EQ(text.find("grad.1"), std::string::npos) << text;
  const size_t two = text.find("\tdone\t");
  const size_t three = text.find("\trunning\t");
  const size_t four = text.find("\tnegotiating\t");
  ASSERT_NE(two, std::string::npos) << text;
  ASSERT_NE(three, std::string::npos) << text;
  ASSERT_NE(four, std::string::npos) << text;
  EXPECT_LT(two, three);
  EXPECT_LT(three, four);
  EXPECT_NE(text.find("allreduce\t12288\tgrad.2\t5\t-"), std::string::npos) << text;
  EXPECT_NE(text.find("allreduce\t20480\tgrad.4\t0,5 (missing 1)\t-"), std::string::npos) << text;
  EXPECT_FALSE(std::filesystem::exists(recorder.path() + ".tmp"));
}

TEST_F(FlightRecorderTest, FailedOpsCarryTheirError) {
  FlightRecorder recorder(8, dir_.string(), 0);
  const uint64_t id = recorder.add(1, "w", "broadcast", 8, "0");
  recorder.update(id, FlightRecorder::State::kFailed, "", "kRemoteError: rank 1 failed");
  ASSERT_TRUE(recorder.dump("process set 1 failed").isOk());
  EXPECT_NE(readFile(recorder.path()).find("failed\t"), std::string::npos);
  EXPECT_NE(readFile(recorder.path()).find("kRemoteError: rank 1 failed"), std::string::npos);
}

TEST_F(FlightRecorderTest, SizeZeroRecordsNothing) {
  FlightRecorder recorder(0, dir_.string(), 0);
  EXPECT_EQ(recorder.add(0, "x", "allreduce", 1, "0"), 0u);
  ASSERT_TRUE(recorder.dump("test").isOk());
  EXPECT_FALSE(std::filesystem::exists(recorder.path()));
}

TEST_F(FlightRecorderTest, AnUnwritableDirectoryIsReported) {
  FlightRecorder recorder(4, "/nonexistent-kolo-dir", 0);
  recorder.add(0, "x", "allreduce", 1, "0");
  Status s = recorder.dump("test");
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_NE(s.message().find("/nonexistent-kolo-dir"), std::string::npos) << s.message();
}

TEST_F(FlightRecorderTest, SigusrOneDumpsFromTheDumpThread) {
  FlightRecorder recorder(4, dir_.string(), 2);
  recorder.add(0, "on.signal", "allgather", 64, "2");
  ASSERT_EQ(::raise(SIGUSR1), 0);  // the handler must not kill the process
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!std::filesystem::exists(recorder.path()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(std::filesystem::exists(recorder.path()));
  std::string text;
  while (text.find("on.signal") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    text = readFile(recorder.path());
  }
  EXPECT_NE(text.find("SIGUSR1"), std::string::npos) << text;
  EXPECT_NE(text.find("on.signal"), std::string::npos) << text;
}

TEST_F(FlightRecorderTest, AFailureDumpTakesNoNativeStacks) {
  FlightRecorder recorder(4, dir_.string(), 1);
  recorder.add(0, "grad.failed", "allreduce", 4, "1");
  ASSERT_TRUE(recorder.dump("process set 0 failed: test", false).isOk());
  EXPECT_EQ(readFile(recorder.path()).find("# native stacks"), std::string::npos);
  ASSERT_TRUE(recorder.dump("SIGUSR1").isOk());
  EXPECT_NE(readFile(recorder.path()).find("# native stacks"), std::string::npos);
}

TEST_F(FlightRecorderTest, ARetiredRecorderIsNotDumpedBySigusrOne) {
  FlightRecorder retired(4, dir_.string(), 7);  // an earlier session of this process
  retired.add(0, "old.session", "allreduce", 4, "7");
  retired.retire();
  FlightRecorder current(4, dir_.string(), 3);
  current.add(0, "new.session", "allreduce", 4, "3");
  ASSERT_EQ(::raise(SIGUSR1), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (current.dumpCount() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(current.dumpCount(), 1u);
  EXPECT_NE(readFile(current.path()).find("new.session"), std::string::npos);
  EXPECT_EQ(retired.dumpCount(), 0u);
  EXPECT_FALSE(std::filesystem::exists(retired.path()));
}

}  // namespace
}  // namespace kolo::core
