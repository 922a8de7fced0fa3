// Allgather, broadcast, alltoall, reducescatter, grouped allreduce, join and process sets.
#include <cstring>
#include <numeric>

#include "engine_world.h"

namespace kolo::test {
namespace {

std::vector<float> asFloats(const core::OpResult& r) {
  std::vector<float> out(r.data.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), r.data.data(), r.data.size());
  return out;
}

TEST(EngineOps, AllgatherWithDifferentFirstDimensions) {
  expectAllOk(runEngines(3, [](core::Engine& e) {
    const int r = e.rank();
    // Rank r has r+1 rows of 2 columns, each element 10*r + row.
    std::vector<float> mine(static_cast<size_t>(2 * (r + 1)));
    for (size_t i = 0; i < mine.size(); ++i) mine[i] = static_cast<float>(10 * r + i / 2);
    for (int round = 0; round < 2; ++round) {  // the second round comes from the cache
      auto h = e.allgather("rows", tensorOf(mine, {r + 1, 2}));
      if (!h.hasValue()) return h.status();
      KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
      const auto& res = h.value().result();
      KOLO_CHECK(res.shape == std::vector<int64_t>({6, 2}), "shape [{}]",
                 fmt::join(res.shape, ","));
      std::vector<float> expected;
      for (int q = 0; q < 3; ++q) {
        for (int row = 0; row <= q; ++row) expected.insert(expected.end(), 2, 10.0f * q + row);
      }
      KOLO_CHECK(asFloats(res) == expected, "rank {}: got [{}]", r, fmt::join(asFloats(res), ","));
    }
    return Status::ok();
  }));
}

TEST(EngineOps, BroadcastFromEachRootFusedAndAlone) {
  expectAllOk(runEngines(4, [](core::Engine& e) {
    std::vector<std::vector<float>> bufs;
    std::vector<core::Handle> hs;
    for (int root = 0; root < 4; ++root) {
      for (size_t size : {size_t{3}, size_t{300000}}) {
        bufs.emplace_back(size, static_cast<float>(e.rank() * 100 + root));
      }
    }
    size_t i = 0;
    for (int root = 0; root < 4; ++root) {
      for (int k = 0; k < 2; ++k, ++i) {
        OpOptions o;
        o.rootRank = root;
        auto h = e.broadcast(fmt::format("bcast.{}.{}", root, k), tensorOf(bufs[i]), o);
        if (!h.hasValue()) return h.status();
        hs.push_back(h.value());
      }
    }
    for (auto& h : hs) KOLO_RETURN_IF_ERROR(h.wait(shortDeadline()));
    i = 0;
    for (int root = 0; root < 4; ++root) {
      for (int k = 0; k < 2; ++k, ++i) {
        KOLO_CHECK(bufs[i].back() == static_cast<float>(root * 100 + root),
                   "rank {} root {}: got {}", e.rank(), root, bufs[i].back());
      }
    }
    return Status::ok();
  }));
}

TEST(EngineOps, AlltoallWithSplits) {
  expectAllOk(runEngines(3, [](core::Engine& e) {
    const int r = e.rank();
    OpOptions o;
    std::vector<float> send = alltoallInputOf(r, o);
    auto h = e.alltoall("a2a", tensorOf(send, {6}), o);
    if (!h.hasValue()) return h.status();
    KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
    KOLO_CHECK(asFloats(h.value().result()) == alltoallOutputOf(r), "rank {}: got [{}]", r,
               fmt::join(asFloats(h.value().result()), ","));
    KOLO_CHECK(h.value().result().receivedSplits == std::vector<int64_t>(3, r + 1),
               "received splits");
    return Status::ok();
  }));
}

TEST(EngineOps, ReducescatterSplitsRowsUnevenly) {
  expectAllOk(runEngines(3, [](core::Engine& e) {
    // 7 rows of 2: ranks get 3, 2, 2 rows; element (row, col) = rank + row.
    std::vector<float> in(14);
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(e.rank() + i / 2);
    auto h = e.reducescatter("rs", tensorOf(in, {7, 2}));
    if (!h.hasValue()) return h.status();
    KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
    const int firstRow = e.rank() == 0 ? 0 : (e.rank() == 1 ? 3 : 5);
    const int rows = e.rank() == 0 ? 3 : 2;
    std::vector<float> expected;
    for (int row = firstRow; row < firstRow + rows; ++row) {
      expected.insert(expected.end(), 2, static_cast<float>(3 + 3 * row));
    }
    KOLO_CHECK(asFloats(h.value().result()) == expected, "rank {}: got [{}]", e.rank(),
               fmt::join(asFloats(h.value().result()), ","));
    KOLO_CHECK(h.value().result().shape == std::vector<int64_t>({rows, 2}), "shape");
    return Status::ok();
  }));
}

TEST(EngineOps, GroupedAllreduceCompletesTogether) {
  expectAllOk(runEngines(2, [](core::Engine& e) {
    std::vector<float> a(5, 1.0f), b(300000, 2.0f), c(1, 3.0f);
    std::vector<std::string> names = {"g.a", "g.b", "g.c"};
    if (e.rank() == 1) std::swap(names[0], names[2]);  // order within the group is free
    std::vector<Tensor> ts = {tensorOf(a), tensorOf(b), tensorOf(c)};
    if (e.rank() == 1) std::swap(ts[0], ts[2]);
    auto h = e.groupedAllreduce(names, ts);
    if (!h.hasValue()) return h.status();
    KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
    KOLO_CHECK(a[4] == 2.0f && b[299999] == 4.0f && c[0] == 6.0f, "rank {}: {} {} {}", e.rank(),
               a[4], b[299999], c[0]);
    return Status::ok();
  }));
}

TEST(EngineOps, JoinWithUnevenBatchesContributesZeros) {
  expectAllOk(runEngines(3, [](core::Engine& e) {
    // Rank r runs r+1 steps of an averaged allreduce, then joins.
    for (int step = 0; step <= e.rank(); ++step) {
      std::vector<float> g(4, 6.0f);
      OpOptions o;
      o.reduceOp = ReduceOp::kAverage;
      auto h = e.allreduce(fmt::format("step.{}", step), tensorOf(g), o);
      if (!h.hasValue()) return h.status();
      KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
      // Step s has 3 - s contributors of 6; average divides by all 3 ranks.
      const float expected = static_cast<float>(6 * (3 - step)) / 3.0f;
      KOLO_CHECK(g[0] == expected, "rank {} step {}: got {} expected {}", e.rank(), step, g[0],
                 expected);
    }
    auto j = e.join();
    if (!j.hasValue()) return j.status();
    KOLO_RETURN_IF_ERROR(j.value().wait(shortDeadline()));
    KOLO_CHECK(j.value().result().lastJoinedRank == 2, "last joined rank {}",
               j.value().result().lastJoinedRank);
    // The session goes on after everyone joined.
    std::vector<float> after(2, 1.0f);
    auto h = e.allreduce("after.join", tensorOf(after));
    if (!h.hasValue()) return h.status();
    KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
    KOLO_CHECK(after[1] == 3.0f, "after join: {}", after[1]);
    return Status::ok();
  }));
}

TEST(EngineOps, DisjointProcessSetsRunConcurrently) {
  expectAllOk(runEngines(4, [](core::Engine& e) {
    auto even = e.addProcessSet({0, 2});
    if (!even.hasValue()) return even.status();
    auto odd = e.addProcessSet({1, 3});
    if (!odd.hasValue()) return odd.status();
    const int32_t mine = e.rank() % 2 == 0 ? even.value() : odd.value();
    KOLO_CHECK(even.value() == 1 && odd.value() == 2, "ids {} {}", even.value(), odd.value());
    for (int round = 0; round < 3; ++round) {
      std::vector<int32_t> v(100, e.rank());
      OpOptions o;
      o.processSet = mine;
      auto h = e.allreduce("set.grad", tensorOf(v), o);
      if (!h.hasValue()) return h.status();
      std::vector<int32_t> w(3, 1);
      auto world = e.allreduce("world.grad", tensorOf(w));
      if (!world.hasValue()) return world.status();
      KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
      KOLO_RETURN_IF_ERROR(world.value().wait(shortDeadline()));
      const int expected = e.rank() % 2 == 0 ? 0 + 2 : 1 + 3;
      KOLO_CHECK(v[99] == expected && w[0] == 4, "rank {}: set sum {} world sum {}", e.rank(),
                 v[99], w[0]);
    }
    // An op on a set this rank is not in fails at once.
    std::vector<int32_t> x(1, 0);
    OpOptions other;
    other.processSet = e.rank() % 2 == 0 ? odd.value() : even.value();
    auto bad = e.allreduce("not.mine", tensorOf(x), other);
    KOLO_CHECK(!bad.hasValue() && bad.status().code() == Code::kInvalidArgument,
               "op on a foreign set: {}", bad.status().toString());
    return e.removeProcessSet(mine);
  }));
}

}  // namespace
}  // namespace kolo::test

namespace kolo::test {
namespace {

TEST(EngineOps, ProcessSetDisagreementFailsOnEveryRank) {
  expectAllOk(runEngines(3, [](core::Engine& e) {
    std::vector<int32_t> members =
        e.rank() == 1 ? std::vector<int32_t>{0, 2} : std::vector<int32_t>{0, 1};
    auto id = e.addProcessSet(members);
    KOLO_CHECK(!id.hasValue() && id.status().code() == Code::kMismatch &&
                   id.status().message().find("rank 0") != std::string::npos,
               "rank {}: {}", e.rank(), id.hasValue() ? "created" : id.status().toString());
    // The world goes on, and a later agreed set works.
    auto ok = e.addProcessSet({1, 2});
    if (!ok.hasValue()) return ok.status();
    if (e.rank() != 0) KOLO_RETURN_IF_ERROR(e.removeProcessSet(ok.value()));
    return Status::ok();
  }));
}

}  // namespace
}  // namespace kolo::test
