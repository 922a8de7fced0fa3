// Allreduce through the whole runtime: negotiation, response cache, fusion, handles.
#include <algorithm>
#include <random>
#include <thread>

#include "engine_world.h"

namespace kolo::test {
namespace {

float inputValue(int rank, size_t tensor, size_t j) {
  return static_cast<float>((rank + 1) * static_cast<int>(j % 7 + 1) + static_cast<int>(tensor));
}

float expectedSum(int n, size_t tensor, size_t j) {
  return static_cast<float>(n * (n + 1) / 2 * static_cast<int>(j % 7 + 1) +
                            n * static_cast<int>(tensor));
}

// Sizes that cover empty, tiny, fused and in-place (>= 1 MiB) tensors.
constexpr size_t kSizes[] = {0, 1, 7, 1000, 300000, 3, 64};

Status allreduceRounds(core::Engine& e, int rounds) {
  const int n = e.size();
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::vector<float>> data;
    std::vector<core::Handle> handles;
    for (size_t t = 0; t < std::size(kSizes); ++t) {
      data.emplace_back(kSizes[t]);
      for (size_t j = 0; j < kSizes[t]; ++j) data[t][j] = inputValue(e.rank(), t, j);
    }
    for (size_t t = 0; t < data.size(); ++t) {
      auto h = e.allreduce(fmt::format("grad.{}", t), tensorOf(data[t]));
      if (!h.hasValue()) return h.status();
      handles.push_back(h.value());
    }
    for (size_t t = 0; t < handles.size(); ++t) {
      KOLO_RETURN_IF_ERROR(handles[t].wait(shortDeadline()));
      for (size_t j = 0; j < data[t].size(); ++j) {
        KOLO_CHECK(data[t][j] == expectedSum(n, t, j),
                   "rank {} round {} tensor {} [{}]: got {} expected {}", e.rank(), round, t, j,
                   data[t][j], expectedSum(n, t, j));
      }
    }
  }
  return Status::ok();
}

class EngineAllreduce : public ::testing::TestWithParam<int> {};

TEST_P(EngineAllreduce, SumMatchesReferenceAcrossCachedRounds) {
  expectAllOk(runEngines(GetParam(), [](core::Engine& e) { return allreduceRounds(e, 3); }));
}

TEST_P(EngineAllreduce, SumWithoutCacheOrFusion) {
  auto config = testEngineConfig();
  config.cacheCapacity = 0;
  config.fusion.thresholdBytes = 0;
  expectAllOk(runEngines(
      GetParam(), [](core::Engine& e) { return allreduceRounds(e, 2); }, config));
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, EngineAllreduce, ::testing::Values(1, 2, 3, 4));

TEST(EngineAllreduceOps, AverageMinMaxProductAndScaling) {
  expectAllOk(runEngines(3, [](core::Engine& e) {
    const int r = e.rank();
    std::vector<int32_t> sum(5, r + 1), avg(5, 3 * (r + 1)), mn(5, 10 - r), mx(5, r * 4),
        prod(5, r + 2), scaled(5, r + 1);
    std::vector<float> fav(4, static_cast<float>(r)), out(4, -1.0f);
    OpOptions o;
    std::vector<core::Handle> hs;
    auto add = [&](const std::string& name, Tensor t, OpOptions opt) -> Status {
      auto h = e.allreduce(name, t, opt);
      if (!h.hasValue()) return h.status();
      hs.push_back(h.value());
      return Status::ok();
    };
    o.reduceOp = ReduceOp::kAverage;
    KOLO_RETURN_IF_ERROR(add("avg", tensorOf(avg), o));
    o.reduceOp = ReduceOp::kMin;
    KOLO_RETURN_IF_ERROR(add("min", tensorOf(mn), o));
    o.reduceOp = ReduceOp::kMax;
    KOLO_RETURN_IF_ERROR(add("max", tensorOf(mx), o));
    o.reduceOp = ReduceOp::kProduct;
    KOLO_RETURN_IF_ERROR(add("prod", tensorOf(prod), o));
    OpOptions s;
    s.prescale = 2.0;
    s.postscale = 0.5;
    KOLO_RETURN_IF_ERROR(add("scaled", tensorOf(scaled), s));
    KOLO_RETURN_IF_ERROR(add("sum", tensorOf(sum), {}));
    Tensor outOfPlace = tensorOf(fav);
    outOfPlace.output = out.data();
    o.reduceOp = ReduceOp::kAverage;
    KOLO_RETURN_IF_ERROR(add("float.avg", outOfPlace, o));
    for (auto& h : hs) KOLO_RETURN_IF_ERROR(h.wait(shortDeadline()));
    KOLO_CHECK(
        sum[0] == 6 && avg[0] == 6 && mn[0] == 8 && mx[0] == 8 && prod[0] == 24 && scaled[4] == 6,
        "rank {}: sum {} avg {} min {} max {} prod {} scaled {}", r, sum[0], avg[0], mn[0], mx[0],
        prod[0], scaled[4]);
    KOLO_CHECK(out[3] == 1.0f && fav[3] == static_cast<float>(r),
               "rank {}: out-of-place average {} (input now {})", r, out[3], fav[3]);
    return Status::ok();
  }));
}

TEST(EngineAllreduceOrder, RandomOrderFromSeveralThreadsPerRank) {
  constexpr size_t kTensors = 24;
  constexpr int kThreads = 3;
  expectAllOk(runEngines(3, [&](core::Engine& e) {
    std::vector<std::vector<float>> data(kTensors);
    for (size_t t = 0; t < kTensors; ++t) {
      data[t].resize(t % 5 == 0 ? 5000 : 10 + t);
      for (size_t j = 0; j < data[t].size(); ++j) data[t][j] = inputValue(e.rank(), t, j);
    }
    std::vector<size_t> order(kTensors);
    for (size_t t = 0; t < kTensors; ++t) order[t] = t;
    std::mt19937 rng(static_cast<unsigned>(1234 + e.rank() * 77));
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<Status> threadStatus(kThreads);
    std::vector<std::thread> threads;
    for (int th = 0; th < kThreads; ++th) {
      threads.emplace_back([&, th] {
        std::vector<core::Handle> mine;
        for (size_t i = static_cast<size_t>(th); i < kTensors; i += kThreads) {
          size_t t = order[i];
          auto h = e.allreduce(fmt::format("layer{}.weight", t), tensorOf(data[t]));
          if (!h.hasValue()) {
            threadStatus[static_cast<size_t>(th)] = h.status();
            return;
          }
          mine.push_back(h.value());
          if (i % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200 * th));
        }
        for (auto& h : mine) {
          Status s = h.wait(shortDeadline());
          if (!s.isOk()) threadStatus[static_cast<size_t>(th)] = s;
        }
      });
    }
    for (auto& t : threads) t.join();
    for (auto& s : threadStatus) KOLO_RETURN_IF_ERROR(s);
    for (size_t t = 0; t < kTensors; ++t) {
      for (size_t j = 0; j < data[t].size(); ++j) {
        KOLO_CHECK(data[t][j] == expectedSum(e.size(), t, j), "rank {} tensor {} [{}]: {} vs {}",
                   e.rank(), t, j, data[t][j], expectedSum(e.size(), t, j));
      }
    }
    return Status::ok();
  }));
}

TEST(EngineHandles, PollIsFalseUntilEveryRankSubmitted) {
  expectAllOk(runEngines(2, [](core::Engine& e) {
    std::vector<float> v(10, 1.0f);
    if (e.rank() == 0) {
      auto h = e.allreduce("late", tensorOf(v));
      if (!h.hasValue()) return h.status();
      // Rank 1 submits only after this barrier, so the op cannot have completed yet.
      KOLO_CHECK(!h.value().poll(), "handle ready before rank 1 submitted");
      KOLO_CHECK(h.value().status().code() == Code::kUnavailable, "status while pending: {}",
                 h.value().status().toString());
      auto b = e.barrier("sync");
      if (!b.hasValue()) return b.status();
      KOLO_RETURN_IF_ERROR(b.value().wait(shortDeadline()));
      KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
      KOLO_CHECK(h.value().poll(), "poll false after wait");
    } else {
      auto b = e.barrier("sync");
      if (!b.hasValue()) return b.status();
      KOLO_RETURN_IF_ERROR(b.value().wait(shortDeadline()));
      auto h = e.allreduce("late", tensorOf(v));
      if (!h.hasValue()) return h.status();
      KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
    }
    KOLO_CHECK(v[9] == 2.0f, "rank {}: got {}", e.rank(), v[9]);
    return Status::ok();
  }));
}

}  // namespace
}  // namespace kolo::test
