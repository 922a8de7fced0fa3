// Stall inspector, timeline, configuration knobs and the public C++ API.
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine_world.h"
#include "kolo/kolo.hpp"

namespace kolo::test {
namespace {

TEST(EngineStall, StuckTensorFailsOnEveryRankNamingMissingRanksThenSessionGoesOn) {
  auto config = testEngineConfig();
  config.stallWarningSeconds = 0.1;
  config.stallShutdownSeconds = 0.3;
  std::atomic<int> failedRanks{0};
  expectAllOk(runEngines(
      3,
      [&](core::Engine& e) {
        if (e.rank() != 1) {
          std::vector<float> v(4, 1.0f);
          auto h = e.allreduce("stuck", tensorOf(v));
          if (!h.hasValue()) return h.status();
          Status s = h.value().wait(shortDeadline());
          KOLO_CHECK(s.code() == Code::kAborted &&
                         s.message().find("'stuck'") != std::string::npos &&
                         s.message().find("missing ranks [1]") != std::string::npos &&
                         s.message().find("submitted by ranks [0, 2]") != std::string::npos,
                     "rank {}: {}", e.rank(), s.toString());
          ++failedRanks;
        }
        // Rank 1 never submits "stuck"; everyone goes on once both others saw it fail.
        const Deadline limit = shortDeadline();
        while (failedRanks.load() < 2 && !limit.expired()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        std::vector<float> after(2, 1.0f);
        auto h = e.allreduce("after.stall", tensorOf(after));
        if (!h.hasValue()) return h.status();
        KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
        KOLO_CHECK(after[0] == 3.0f, "after stall: {}", after[0]);
        return Status::ok();
      },
      config));
}

TEST(EngineTimeline, WritesChromeTraceWithTensorRowsCollectivesAndCycles) {
  auto config = testEngineConfig();
  config.timelinePath = ::testing::TempDir() + "kolo_engine_timeline.json";
  expectAllOk(runEngines(
      2,
      [](core::Engine& e) {
        std::vector<float> a(8, 1.0f), b(8, 1.0f), big(300000, 1.0f);
        // A group is negotiated as one response: its two small tensors always share a buffer.
        auto hab = e.groupedAllreduce({"tl.a", "tl.b"}, {tensorOf(a), tensorOf(b)});
        auto hc = e.allreduce("tl.big", tensorOf(big));
        for (auto* h : {&hab, &hc}) {
          if (!h->hasValue()) return h->status();
          KOLO_RETURN_IF_ERROR(h->value().wait(shortDeadline()));
        }
        return Status::ok();
      },
      config));
  std::ifstream in(config.timelinePath);
  auto trace = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(trace.is_array()) << "not a JSON array: " << config.timelinePath;
  std::set<std::string> rows, names;
  for (const auto& ev : trace) {
    names.insert(ev.value("name", ""));
    if (ev.value("name", "") == "thread_name") rows.insert(ev["args"].value("name", ""));
    // The collective's events carry the batch's phase split (phase clock).
    const std::string name = ev.value("name", "");
    if (name != "ALLREDUCE" && name != "FUSED_ALLREDUCE") continue;
    const auto& args = ev["args"];
    ASSERT_TRUE(args.contains("copy_us") && args.contains("reduce_us") &&
                args.contains("transfer_us") && args.contains("other_us") && args.contains("batch"))
        << ev.dump();
    const double split = args["copy_us"].get<double>() + args["reduce_us"].get<double>() +
                         args["transfer_us"].get<double>() + args["other_us"].get<double>();
    EXPECT_GT(args["reduce_us"].get<double>(), 0.0) << ev.dump();
    if (name == "ALLREDUCE") {
      EXPECT_NEAR(split, ev["dur"].get<double>(), 0.01) << "the phases cover the span";
    } else {
      EXPECT_GT(args["copy_us"].get<double>(), 0.0) << "packing the fusion buffer: " << ev.dump();
      EXPECT_GE(split, ev["dur"].get<double>()) << "the split covers the whole batch";
    }
  }
  EXPECT_TRUE(rows.count("tl.a") && rows.count("tl.b") && rows.count("tl.big"));
  EXPECT_TRUE(names.count("WAIT_FOR_PEERS"));
  EXPECT_TRUE(names.count("RANK 0 READY") && names.count("RANK 1 READY"));
  EXPECT_TRUE(names.count("ALLREDUCE")) << "tl.big runs alone";
  EXPECT_TRUE(names.count("FUSED_ALLREDUCE")) << "tl.a and tl.b share a fusion buffer";
  EXPECT_TRUE(names.count("MEMCPY_IN_FUSION_BUFFER") && names.count("MEMCPY_OUT_FUSION_BUFFER"));
  EXPECT_TRUE(std::any_of(names.begin(), names.end(),
                          [](const std::string& n) { return n.rfind("CYCLE ", 0) == 0; }));
}

TEST(EngineConfigTest, HorovodAliasesAndKoloPrecedence) {
  ::setenv("HOROVOD_FUSION_THRESHOLD", "1234", 1);
  ::setenv("HOROVOD_CACHE_CAPACITY", "17", 1);
  ::setenv("KOLO_CACHE_CAPACITY", "33", 1);
  ::setenv("HOROVOD_CYCLE_TIME", "2.5", 1);
  auto c = core::EngineConfig::fromEnv();
  ::unsetenv("HOROVOD_FUSION_THRESHOLD");
  ::unsetenv("HOROVOD_CACHE_CAPACITY");
  ::unsetenv("KOLO_CACHE_CAPACITY");
  ::unsetenv("HOROVOD_CYCLE_TIME");
  EXPECT_EQ(c.fusion.thresholdBytes, 1234u);
  EXPECT_EQ(c.cacheCapacity, 33u);
  EXPECT_DOUBLE_EQ(c.cycleTimeMs, 2.5);
  const std::string text = c.describe();
  EXPECT_NE(text.find("KOLO_FUSION_THRESHOLD"), std::string::npos);
  EXPECT_NE(text.find("1234"), std::string::npos);
  EXPECT_NE(text.find("KOLO_STALL_SHUTDOWN_SECONDS"), std::string::npos);
}

TEST(PublicApi, SessionOfOneWithoutLauncher) {
  for (const char* v :
       {"KOLO_RANK", "KOLO_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"}) {
    ::unsetenv(v);
  }
  for (int round = 0; round < 2; ++round) {
    auto session = Session::init();
    ASSERT_TRUE(session.hasValue()) << session.status().toString();
    Session s = session.value();
    EXPECT_EQ(s.rank(), 0);
    EXPECT_EQ(s.size(), 1);
    std::vector<float> v = {1.0f, 2.0f, 3.0f};
    std::vector<float> out(3, 0.0f);
    Tensor t{v.data(), out.data(), DataType::kFloat32, {3}};
    OpOptions o;
    o.postscale = 2.0;
    auto h = s.allreduce("api.x", t, o);
    ASSERT_TRUE(h.hasValue()) << h.status().toString();
    EXPECT_TRUE(h.value().wait(10.0).isOk());
    EXPECT_EQ(out, std::vector<float>({2.0f, 4.0f, 6.0f}));
    auto g = s.allgather("api.g", Tensor{v.data(), nullptr, DataType::kFloat32, {3}});
    ASSERT_TRUE(g.hasValue());
    ASSERT_TRUE(g.value().wait(10.0).isOk());
    EXPECT_EQ(g.value().outputBytes(), 3 * sizeof(float));
    EXPECT_EQ(g.value().outputShape(), std::vector<int64_t>({3}));
    EXPECT_THROW(s.allreduce("", t).valueOrThrow(), StatusError);
    EXPECT_TRUE(s.shutdown().isOk());
    auto late = s.allreduce("api.late", t);
    EXPECT_FALSE(late.hasValue());
  }
}

}  // namespace
}  // namespace kolo::test
