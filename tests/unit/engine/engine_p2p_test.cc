// Point-to-point through the Engine, ranks as threads over loopback: matching per (peer, tag)
// in posting order, out-of-order posting across tags, every dtype, mismatches named on both
// sides (and the session going on), argument errors, transfers that other ranks and
// collectives in progress do not hold up, process-set ranks, and a transfer to a rank that
// never answers ending with its deadline.
#include <fmt/format.h>

#include <cstring>
#include <numeric>

#include "engine_world.h"

namespace kolo::test {
namespace {

template <typename T>
Tensor viewOf(std::vector<T>& v, DataType dtype) {
  Tensor t;
  t.data = v.data();
  t.output = v.data();
  t.dtype = dtype;
  t.shape = {static_cast<int64_t>(v.size())};
  return t;
}

// How the op ended (a rejected submission's status, or the handle's).
Status outcomeOf(const Expected<core::Handle>& h) {
  if (!h.hasValue()) return h.status();
  return h.value().wait(shortDeadline());
}

TEST(EngineP2P, SameTagMatchesInPostingOrderAndTagsMatchIndependently) {
  expectAllOk(runEngines(2, [](core::Engine& e) -> Status {
    constexpr int kPerTag = 5;
    if (e.rank() == 0) {
      // Tag 1 first, then tag 2, each several messages of distinct contents.
      std::vector<std::vector<int32_t>> bufs;
      for (int tag : {1, 2})
        for (int i = 0; i < kPerTag; ++i) bufs.push_back(std::vector<int32_t>(3, tag * 100 + i));
      std::vector<core::Handle> hs;
      for (size_t k = 0; k < bufs.size(); ++k) {
        auto h = e.send(viewOf(bufs[k], DataType::kInt32), 1, k < kPerTag ? 1 : 2);
        if (!h.hasValue()) return h.status();
        hs.push_back(h.value());
      }
      for (auto& h : hs) KOLO_RETURN_IF_ERROR(h.wait(shortDeadline()));
      return Status::ok();
    }
    // Tag 2's receives are posted before tag 1's.
    std::vector<std::vector<int32_t>> out(2 * kPerTag, std::vector<int32_t>(3, -1));
    std::vector<core::Handle> hs;
    for (int k = 0; k < 2 * kPerTag; ++k) {
      const int tag = k < kPerTag ? 2 : 1;
      auto h = e.recv(viewOf(out[static_cast<size_t>(k)], DataType::kInt32), 0, tag);
      if (!h.hasValue()) return h.status();
      hs.push_back(h.value());
    }
    for (auto& h : hs) KOLO_RETURN_IF_ERROR(h.wait(shortDeadline()));
    for (int k = 0; k < 2 * kPerTag; ++k) {
      const int tag = k < kPerTag ? 2 : 1;
      const int expected = tag * 100 + k % kPerTag;
      KOLO_CHECK(out[static_cast<size_t>(k)] == std::vector<int32_t>(3, expected),
                 "receive {} (tag {}) holds {}, expected {}", k, tag, out[size_t(k)][0], expected);
    }
    return Status::ok();
  }));
}

// Eager (small) and rendezvous (large) messages mixed on one tag keep their order, also when
// the receives are posted only after every send, and a rejected message of either kind leaves
// the tag usable.
TEST(EngineP2P, EagerAndRendezvousMessagesOfOneTagKeepTheirOrder) {
  expectAllOk(runEngines(2, [](core::Engine& e) -> Status {
    const std::vector<size_t> sizes = {100000, 3, 40000, 1, 5000, 70000};
    std::vector<std::vector<int32_t>> bufs;
    for (size_t k = 0; k < sizes.size(); ++k) {
      bufs.emplace_back(sizes[k], e.rank() == 0 ? static_cast<int32_t>(k + 1) : 0);
    }
    std::vector<core::Handle> hs;
    if (e.rank() == 0) {
      for (auto& b : bufs) hs.push_back(e.send(viewOf(b, DataType::kInt32), 1, 4).valueOrThrow());
    }
    std::vector<float> flag(1, 1.0f);
    KOLO_RETURN_IF_ERROR(outcomeOf(e.allreduce("sends.posted", tensorOf(flag))));
    if (e.rank() == 1) {
      for (auto& b : bufs) hs.push_back(e.recv(viewOf(b, DataType::kInt32), 0, 4).valueOrThrow());
    }
    for (auto& h : hs) KOLO_RETURN_IF_ERROR(h.wait(shortDeadline()));
    for (size_t k = 0; k < sizes.size(); ++k) {
      KOLO_CHECK(bufs[k] == std::vector<int32_t>(sizes[k], static_cast<int32_t>(k + 1)),
                 "message {} of {} elements holds {}", k, sizes[k], bufs[k][0]);
    }
    // A rejected eager message, then a rejected rendezvous one, then a good one.
    for (size_t n : {size_t{10}, size_t{50000}}) {
      std::vector<int64_t> sent(n, 3);
      std::vector<int64_t> want(n + 1, 0);
      Status st = e.rank() == 0 ? outcomeOf(e.send(viewOf(sent, DataType::kInt64), 1, 4))
                                : outcomeOf(e.recv(viewOf(want, DataType::kInt64), 0, 4));
      KOLO_CHECK(st.code() == Code::kMismatch, "{} elements: {}", n, st.toString());
    }
    std::vector<int64_t> last(20000, e.rank() == 0 ? 8 : 0);
    KOLO_RETURN_IF_ERROR(outcomeOf(e.rank() == 0 ? e.send(viewOf(last, DataType::kInt64), 1, 4)
                                                 : e.recv(viewOf(last, DataType::kInt64), 0, 4)));
    KOLO_CHECK(last == std::vector<int64_t>(20000, 8), "the message after the mismatches");
    return Status::ok();
  }));
}

TEST(EngineP2P, EveryDtypeArrivesBitExact) {
  expectAllOk(runEngines(2, [](core::Engine& e) -> Status {
    for (DataType dt : kAllDataTypes) {
      const size_t n = 37;
      std::vector<std::byte> buf(n * dataTypeSize(dt));
      for (size_t i = 0; i < buf.size(); ++i) buf[i] = std::byte((i * 31 + 7) & 0xff);
      const std::vector<std::byte> expected = buf;
      if (e.rank() == 1) std::fill(buf.begin(), buf.end(), std::byte{0});
      Tensor t;
      t.data = buf.data();
      t.output = buf.data();
      t.dtype = dt;
      t.shape = {static_cast<int64_t>(n)};
      const int tag = static_cast<int>(dt);
      KOLO_RETURN_IF_ERROR(outcomeOf(e.rank() == 0 ? e.send(t, 1, tag) : e.recv(t, 0, tag)));
      KOLO_CHECK(buf == expected, "{} arrived changed", dataTypeName(dt));
    }
    return Status::ok();
  }));
}

TEST(EngineP2P, MismatchIsNamedOnBothSidesAndTheSessionGoesOn) {
  expectAllOk(runEngines(2, [](core::Engine& e) -> Status {
    std::vector<int32_t> sent(8, 5);
    std::vector<float> want(16, 0.0f);
    const Status outcome = e.rank() == 0
                               ? outcomeOf(e.send(viewOf(sent, DataType::kInt32), 1, 3))
                               : outcomeOf(e.recv(viewOf(want, DataType::kFloat32), 0, 3));
    const std::string message = outcome.message();
    const std::string expected =
        e.rank() == 0 ? "send to rank 1 tag 3: sent 8 int32 elements, rank 1 expected 16 float32"
                      : "recv from rank 0 tag 3: expected 16 float32 elements, rank 0 sent 8 int32";
    KOLO_CHECK(message.find(expected) != std::string::npos, "rank {}: got '{}'", e.rank(), message);
    KOLO_CHECK(outcome.code() == Code::kMismatch, "rank {}: not a mismatch: {}", e.rank(),
               outcome.toString());
    // The same tag then carries a matching message, and collectives still run.
    std::vector<int32_t> again(8, e.rank() == 0 ? 9 : 0);
    KOLO_RETURN_IF_ERROR(outcomeOf(e.rank() == 0 ? e.send(viewOf(again, DataType::kInt32), 1, 3)
                                                 : e.recv(viewOf(again, DataType::kInt32), 0, 3)));
    KOLO_CHECK(again == std::vector<int32_t>(8, 9), "rank {}: the next message holds {}", e.rank(),
               again[0]);
    std::vector<float> v(4, 1.0f);
    OpOptions sum;
    KOLO_RETURN_IF_ERROR(outcomeOf(e.allreduce("after.mismatch", tensorOf(v), sum)));
    KOLO_CHECK(v == std::vector<float>(4, 2.0f), "allreduce after the mismatch gave {}", v[0]);
    return Status::ok();
  }));
}

TEST(EngineP2P, BadArgumentsFailAtOnceNamingWhat) {
  expectAllOk(runEngines(2, [](core::Engine& e) -> Status {
    std::vector<float> v(4, 0.0f);
    const Tensor t = tensorOf(v);
    const int self = e.rank();
    const struct {
      Expected<core::Handle> h;
      std::string text;
    } cases[] = {
        {e.send(t, self, 0), fmt::format("rank {} cannot send to itself", self)},
        {e.recv(t, self, 0), fmt::format("rank {} cannot receive from itself", self)},
        {e.send(t, 2, 0), "rank 2 is outside process set 0 (ranks 0..1)"},
        {e.recv(t, -1, 0), "rank -1 is outside process set 0"},
        {e.send(t, 1 - self, -4), "tags must be in 0..2147483647"},
        {e.send(t, 1 - self, 0, OpOptions{.processSet = 9}), "process set 9 does not exist"},
    };
    for (const auto& c : cases) {
      KOLO_CHECK(!c.h.hasValue(), "'{}' was accepted", c.text);
      KOLO_CHECK(c.h.status().code() == Code::kInvalidArgument, "'{}': code {}", c.text,
                 c.h.status().toString());
      KOLO_CHECK(c.h.status().message().find(c.text) != std::string::npos, "got '{}', want '{}'",
                 c.h.status().message(), c.text);
    }
    return Status::ok();
  }));
}

// Rank 0 sends to 1 while ranks 2 and 3 run allreduces of their own set; then rank 0 isends,
// every rank allreduces over the world, and only then does rank 1 post its receive.
TEST(EngineP2P, OtherRanksAndCollectivesInProgressDoNotHoldATransferUp) {
  expectAllOk(runEngines(4, [](core::Engine& e) -> Status {
    KOLO_ASSIGN_OR_RETURN(int32_t pair, e.addProcessSet({2, 3}));
    std::vector<int64_t> msg(1 << 16);
    std::iota(msg.begin(), msg.end(), int64_t{7});
    const std::vector<int64_t> expected = msg;
    if (e.rank() == 0) {
      KOLO_RETURN_IF_ERROR(outcomeOf(e.send(viewOf(msg, DataType::kInt64), 1, 0)));
    } else if (e.rank() == 1) {
      std::vector<int64_t> got(msg.size(), 0);
      KOLO_RETURN_IF_ERROR(outcomeOf(e.recv(viewOf(got, DataType::kInt64), 0, 0)));
      KOLO_CHECK(got == expected, "first message differs");
    } else {
      for (int i = 0; i < 10; ++i) {
        std::vector<float> v(8, 1.0f);
        OpOptions o{.processSet = pair};
        KOLO_RETURN_IF_ERROR(outcomeOf(e.allreduce(fmt::format("pair.{}", i), tensorOf(v), o)));
      }
    }
    Expected<core::Handle> pending = Status(Code::kUnavailable, "none");
    if (e.rank() == 0) pending = e.send(viewOf(msg, DataType::kInt64), 1, 5);
    std::vector<float> v(4, 1.0f);
    KOLO_RETURN_IF_ERROR(outcomeOf(e.allreduce("world.between", tensorOf(v), OpOptions{})));
    if (e.rank() == 1) {
      std::vector<int64_t> got(msg.size(), 0);
      KOLO_RETURN_IF_ERROR(outcomeOf(e.recv(viewOf(got, DataType::kInt64), 0, 5)));
      KOLO_CHECK(got == expected, "second message differs");
    }
    if (e.rank() == 0) KOLO_RETURN_IF_ERROR(outcomeOf(pending));
    return Status::ok();
  }));
}

// Ranks of a process set are set ranks: world rank 2 is rank 1 of {1, 2}.
TEST(EngineP2P, ProcessSetRanksAddressTheSetsMembers) {
  expectAllOk(runEngines(3, [](core::Engine& e) -> Status {
    KOLO_ASSIGN_OR_RETURN(int32_t set, e.addProcessSet({1, 2}));
    std::vector<int32_t> v(5, e.rank() == 1 ? 42 : 0);
    OpOptions o{.processSet = set};
    if (e.rank() == 1)
      KOLO_RETURN_IF_ERROR(outcomeOf(e.send(viewOf(v, DataType::kInt32), 1, 0, o)));
    if (e.rank() == 2) {
      KOLO_RETURN_IF_ERROR(outcomeOf(e.recv(viewOf(v, DataType::kInt32), 0, 0, o)));
      KOLO_CHECK(v == std::vector<int32_t>(5, 42), "got {}", v[0]);
    }
    if (e.rank() == 0) {
      auto h = e.send(viewOf(v, DataType::kInt32), 1, 0, o);
      KOLO_CHECK(!h.hasValue() &&
                     h.status().message().find("not a member of process set") != std::string::npos,
                 "a non-member's send: {}", h.hasValue() ? "accepted" : h.status().toString());
    }
    return Status::ok();
  }));
}

TEST(EngineP2P, ReceiveNobodySendsEndsWithItsDeadline) {
  auto results = runEngines(
      2,
      [](core::Engine& e) -> Status {
        if (e.rank() == 1) return Status::ok();
        std::vector<float> v(4, 0.0f);
        auto h = e.recv(tensorOf(v), 1, 11);
        if (!h.hasValue()) return h.status();
        Status s = h.value().wait(Deadline::afterSeconds(30));
        KOLO_CHECK(s.code() == Code::kTimeout, "got {}", s.toString());
        KOLO_CHECK(s.message().find("recv from rank 1 tag 11") != std::string::npos, "got {}",
                   s.toString());
        return Status::ok();
      },
      testEngineConfig(), 60.0, nullptr, /*timeoutSeconds=*/2.0);
  expectAllOk(results);
}

}  // namespace
}  // namespace kolo::test
