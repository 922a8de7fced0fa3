// The runtime's reaction to faults, ranks as threads over loopback: a job abort record fails
// pending and later ops with one status, a corrupt control message is caught by every rank,
// and fault points fire at the numbered op's phase.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine_world.h"
#include "kolo/base/fault_injection.h"
#include "kolo/base/job_abort.h"

namespace kolo::test {
namespace {

Tensor floats(std::vector<float>& v) {
  Tensor t;
  t.data = v.data();
  t.output = v.data();
  t.dtype = DataType::kFloat32;
  t.shape = {static_cast<int64_t>(v.size())};
  return t;
}

class EngineFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kolo-engine-faults." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    ::setenv("KOLO_FLIGHT_RECORDER_DIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("KOLO_FLIGHT_RECORDER_DIR");
    setFaultActionHookForTesting(nullptr);
    setFaultPlanForTesting({});
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
};

TEST_F(EngineFaultsTest, AbortRecordFailsPendingAndLaterOpsWithTheSameStatus) {
  PeerFailure failure;
  failure.rank = 2;
  failure.host = "hostB";
  failure.pid = 77;
  failure.reason = "was stopped (SIGSTOP) for 0.5 s";
  failure.reporter = "kolorun";
  const std::string expected = failure.toStatus().message();
  std::atomic<int> pendingSeen{0};
  // Each rank's watcher raises its own engine's token when kolorun's record lands.
  std::array<std::atomic<core::Engine*>, 3> engines{};
  auto results = runEngines(3, [&](core::Engine& e) -> Status {
    std::vector<float> v(1000, 1.0f);
    // Rank 2 never submits "stuck": the others' op stays pending in negotiation.
    Expected<core::Handle> h = Status(Code::kInternal, "not submitted");
    engines[static_cast<size_t>(e.rank())] = &e;
    if (e.rank() != 2) {
      h = e.allreduce("stuck", floats(v));
      if (!h.hasValue()) return h.status();
      ++pendingSeen;
    }
    if (e.rank() == 2) {
      while (pendingSeen.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      for (auto& engine : engines) engine.load()->abortToken().raise(failure.toStatus());
      return Status::ok();
    }
    const auto start = std::chrono::steady_clock::now();
    Status s = h.value().wait(Deadline::afterSeconds(10));
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(waited, 1.5) << "pending op took " << waited << " s to fail";
    EXPECT_EQ(s.code(), Code::kRemoteError) << s.toString();
    EXPECT_NE(s.message().find(expected), std::string::npos) << s.message();
    // Later ops fail at once with the same verdict.
    std::vector<float> w(10, 1.0f);
    auto later = e.allreduce("later", floats(w));
    Status laterStatus =
        later.hasValue() ? later.value().wait(Deadline::afterSeconds(5)) : later.status();
    EXPECT_EQ(laterStatus.code(), Code::kRemoteError) << laterStatus.toString();
    EXPECT_NE(laterStatus.message().find(expected), std::string::npos) << laterStatus.message();
    return Status::ok();
  });
  for (const Status& s : results) EXPECT_TRUE(s.isOk()) << s.toString();
  // Each failed rank wrote its flight recorder, naming the stuck op and who had arrived. (Its
  // entry, a tab-separated line: ranks as threads share one process, so every dump's native
  // stacks also name the threads waiting for 'stuck'.)
  bool sawStuck = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    if (text.str().find("\tstuck\t") != std::string::npos) {
      sawStuck = true;
      EXPECT_NE(text.str().find("(missing 2)"), std::string::npos) << text.str();
      EXPECT_NE(text.str().find(expected), std::string::npos) << text.str();
    }
  }
  EXPECT_TRUE(sawStuck) << "no flight recorder dump in " << dir_;
}

TEST_F(EngineFaultsTest, CorruptControlMessageFailsEveryRankNamingTheSender) {
  auto spec = FaultSpec::parse("rank=1,op=allreduce,seq=2,phase=negotiation,action=corrupt");
  ASSERT_TRUE(spec.hasValue());
  setFaultPlanForTesting({spec.value()});
  setFaultActionHookForTesting([](const FaultSpec&, FaultPhase) {});  // corrupt still applies
  auto results = runEngines(3, [&](core::Engine& e) -> Status {
    std::vector<float> v(64, 1.0f);
    for (int i = 0; i < 4; ++i) {
      auto h = e.allreduce("t" + std::to_string(i), floats(v));
      Status s = h.hasValue() ? h.value().wait(Deadline::afterSeconds(10)) : h.status();
      if (i < 2) {
        EXPECT_TRUE(s.isOk()) << "op " << i << ": " << s.toString();
        continue;
      }
      // Never a result computed from a damaged negotiation.
      EXPECT_EQ(s.code(), Code::kRemoteError) << "op " << i << ": " << s.toString();
      EXPECT_NE(s.message().find("rank 1 failed: sent a corrupt control message"),
                std::string::npos)
          << s.message();
    }
    return Status::ok();
  });
  for (const Status& s : results) EXPECT_TRUE(s.isOk()) << s.toString();
}

TEST_F(EngineFaultsTest, FaultPointsFireAtThePhaseOfTheNumberedOp) {
  auto spec = FaultSpec::parse("rank=2,op=allreduce,seq=3,phase=allgather,action=delay_ms:1");
  ASSERT_TRUE(spec.hasValue());
  setFaultPlanForTesting({spec.value()});
  std::atomic<int> fired{0};
  std::atomic<int> firedDuring{-1};
  std::atomic<int> current[3] = {-1, -1, -1};
  setFaultActionHookForTesting([&](const FaultSpec& s, FaultPhase phase) {
    EXPECT_EQ(phase, FaultPhase::kAllgather);
    ++fired;
    firedDuring = current[s.rank].load();
  });
  auto results = runEngines(3, [&](core::Engine& e) -> Status {
    std::vector<float> v(100000, 1.0f);  // large enough for the ring, not packed
    for (int i = 0; i < 6; ++i) {
      current[e.rank()] = i;
      auto h = e.allreduce("op" + std::to_string(i), floats(v));
      Status s = h.hasValue() ? h.value().wait(Deadline::afterSeconds(10)) : h.status();
      if (!s.isOk()) return s;
    }
    return Status::ok();
  });
  for (const Status& s : results) EXPECT_TRUE(s.isOk()) << s.toString();
  EXPECT_EQ(fired.load(), 1);
  EXPECT_EQ(firedDuring.load(), 3);
}

}  // namespace
}  // namespace kolo::test
