// Allgather, alltoall and reducescatter writing into an output the caller gave
// (Tensor::outputBytes): exact results in place and out of place, alone and fused, and a
// wrong-sized output failing its own rank only, naming both sizes, with the job going on.
#include <cstring>

#include "engine_world.h"

namespace kolo::test {
namespace {

Tensor into(std::vector<float>& in, std::vector<int64_t> shape, std::vector<float>& out,
            size_t outFloats) {
  Tensor t = tensorOf(in, std::move(shape));
  t.output = out.data();
  t.outputBytes = outFloats * sizeof(float);
  return t;
}

// Rank r contributes r+1 rows of 2, element 10*r + row: the gathered rows of `n` ranks.
std::vector<float> gatheredRows(int n) {
  std::vector<float> expected;
  for (int q = 0; q < n; ++q) {
    for (int row = 0; row <= q; ++row) expected.insert(expected.end(), 2, 10.0f * q + row);
  }
  return expected;
}

TEST(EngineCallerOutput, AllgatherWritesTheCallersOutputOutOfPlaceWithUnevenRows) {
  for (int n : {2, 3}) {
    expectAllOk(runEngines(n, [n](core::Engine& e) {
      const int r = e.rank();
      std::vector<float> mine(static_cast<size_t>(2 * (r + 1)));
      for (size_t i = 0; i < mine.size(); ++i) mine[i] = static_cast<float>(10 * r + i / 2);
      const std::vector<float> expected = gatheredRows(n);
      for (int round = 0; round < 2; ++round) {  // the second from the response cache
        std::vector<float> out(expected.size(), -1.0f);
        auto h = e.allgather("rows", into(mine, {r + 1, 2}, out, out.size()));
        if (!h.hasValue()) return h.status();
        KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
        const core::OpResult& res = h.value().result();
        KOLO_CHECK(out == expected, "rank {}: got [{}]", r, fmt::join(out, ","));
        KOLO_CHECK(res.bytes() == reinterpret_cast<std::byte*>(out.data()) && res.data.empty(),
                   "rank {}: the result was not placed in the caller's output", r);
        KOLO_CHECK(res.size() == out.size() * sizeof(float), "size {}", res.size());
        KOLO_CHECK(
            res.shape == std::vector<int64_t>({static_cast<int64_t>(expected.size() / 2), 2}),
            "shape [{}]", fmt::join(res.shape, ","));
      }
      return Status::ok();
    }));
  }
}

TEST(EngineCallerOutput, AllgatherInPlaceFromTheRanksOwnBlock) {
  expectAllOk(runEngines(3, [](core::Engine& e) {
    const int r = e.rank();
    constexpr size_t kBlock = 40000;  // large enough for the pipelined path
    std::vector<float> out(3 * kBlock, -1.0f);
    float* own = out.data() + static_cast<size_t>(r) * kBlock;
    for (size_t i = 0; i < kBlock; ++i) own[i] = static_cast<float>(r * 100000 + i);
    Tensor t;
    t.data = own;
    t.output = out.data();
    t.outputBytes = out.size() * sizeof(float);
    t.shape = {static_cast<int64_t>(kBlock)};
    auto h = e.allgather("inplace", t);
    if (!h.hasValue()) return h.status();
    KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
    for (size_t i = 0; i < out.size(); ++i) {
      const float want = static_cast<float>((i / kBlock) * 100000 + i % kBlock);
      KOLO_CHECK(out[i] == want, "rank {}: element {} is {}, want {}", r, i, out[i], want);
    }
    return Status::ok();
  }));
}

TEST(EngineCallerOutput, FusedAllgathersAndReducescattersFillEachOutput) {
  expectAllOk(runEngines(3, [](core::Engine& e) {
    const int r = e.rank();
    std::vector<float> a(2, static_cast<float>(r)), b(3, static_cast<float>(10 + r));
    std::vector<float> ga(6, -1.0f), gb(9, -1.0f);
    auto h = e.groupedAllgather({"ga", "gb"}, {into(a, {2}, ga, 6), into(b, {3}, gb, 9)}, {});
    if (!h.hasValue()) return h.status();
    // 7 rows of 1 and 4 rows of 2: rank shares 3/2/2 and 2/1/1 rows; element = rank + index.
    std::vector<float> c(7), d(8);
    for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<float>(r + i);
    for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<float>(r + i);
    const size_t cRows = r == 0 ? 3 : 2, dRows = r == 0 ? 2 : 1;
    std::vector<float> rc(cRows, -1.0f), rd(2 * dRows, -1.0f);
    auto g = e.groupedReducescatter(
        {"rc", "rd"}, {into(c, {7}, rc, rc.size()), into(d, {4, 2}, rd, rd.size())}, {});
    if (!g.hasValue()) return g.status();
    KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
    KOLO_RETURN_IF_ERROR(g.value().wait(shortDeadline()));
    KOLO_CHECK(ga == std::vector<float>({0, 0, 1, 1, 2, 2}), "ga [{}]", fmt::join(ga, ","));
    KOLO_CHECK(gb == std::vector<float>({10, 10, 10, 11, 11, 11, 12, 12, 12}), "gb [{}]",
               fmt::join(gb, ","));
    const size_t cFirst = r == 0 ? 0 : (r == 1 ? 3 : 5), dFirst = r == 0 ? 0 : (r == 1 ? 4 : 6);
    for (size_t i = 0; i < rc.size(); ++i) {
      KOLO_CHECK(rc[i] == static_cast<float>(3 + 3 * (cFirst + i)), "rank {} rc [{}]", r,
                 fmt::join(rc, ","));
    }
    for (size_t i = 0; i < rd.size(); ++i) {
      KOLO_CHECK(rd[i] == static_cast<float>(3 + 3 * (dFirst + i)), "rank {} rd [{}]", r,
                 fmt::join(rd, ","));
    }
    return Status::ok();
  }));
}

TEST(EngineCallerOutput, AlltoallWithSplitsWritesTheCallersOutput) {
  expectAllOk(runEngines(3, [](core::Engine& e) {
    const int r = e.rank();
    OpOptions o;
    std::vector<float> send = alltoallInputOf(r, o);
    std::vector<float> out(static_cast<size_t>(3 * (r + 1)), -1.0f);
    auto h = e.alltoall("a2a", into(send, {6}, out, out.size()), o);
    if (!h.hasValue()) return h.status();
    KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
    KOLO_CHECK(out == alltoallOutputOf(r), "rank {}: got [{}]", r, fmt::join(out, ","));
    KOLO_CHECK(h.value().result().receivedSplits == std::vector<int64_t>(3, r + 1),
               "received splits");
    return Status::ok();
  }));
}

TEST(EngineCallerOutput, AWrongSizedOutputFailsItsRankOnlyNamingBothSizes) {
  auto results = runEngines(2, [](core::Engine& e) {
    const int r = e.rank();
    std::vector<float> in(4, static_cast<float>(r + 1));
    std::vector<float> out(8, -1.0f);
    auto h = e.reducescatter("rs", into(in, {4}, out, 2));  // 2 rows each, summed

    if (!h.hasValue()) return h.status();
    KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
    KOLO_CHECK(out[0] == 3.0f && out[1] == 3.0f && out[2] == -1.0f, "rank {} rs [{}]", r,
               fmt::join(out, ","));
    // Rank 1 says its output holds 7 floats; the result is 8.
    auto g = e.allgather("ag", into(in, {4}, out, r == 1 ? 7 : 8));
    if (!g.hasValue()) return g.status();
    Status s = g.value().wait(shortDeadline());
    if (r == 1) {
      KOLO_CHECK(s.code() == Code::kInvalidArgument, "rank 1: {}", s.toString());
      KOLO_CHECK(s.message().find("allgather 'ag': the result is 32 bytes but the output given "
                                  "holds 28") != std::string::npos,
                 "rank 1: {}", s.message());
    } else {
      KOLO_RETURN_IF_ERROR(s);
      KOLO_CHECK(out == std::vector<float>({1, 1, 1, 1, 2, 2, 2, 2}), "rank 0 [{}]",
                 fmt::join(out, ","));
    }
    // The job goes on: the next op completes on both ranks.
    std::vector<float> next(2, 1.0f);
    auto k = e.allreduce("next", tensorOf(next));
    if (!k.hasValue()) return k.status();
    KOLO_RETURN_IF_ERROR(k.value().wait(shortDeadline()));
    KOLO_CHECK(next == std::vector<float>({2, 2}), "rank {} next [{}]", r, fmt::join(next, ","));
    return Status::ok();
  });
  expectAllOk(results);
}

TEST(EngineCallerOutput, AnOutputSizeWithoutAnOutputIsRefusedAtSubmit) {
  expectAllOk(runEngines(1, [](core::Engine& e) {
    std::vector<float> in(4, 1.0f);
    Tensor t = tensorOf(in, {4});
    t.output = nullptr;
    t.outputBytes = 16;
    auto h = e.allgather("no-output", t);
    KOLO_CHECK(
        !h.hasValue() && h.status().code() == Code::kInvalidArgument &&
            h.status().message().find("output is null but outputBytes is 16") != std::string::npos,
        "got {}", h.hasValue() ? std::string("a handle") : h.status().toString());
    return Status::ok();
  }));
}

}  // namespace
}  // namespace kolo::test
