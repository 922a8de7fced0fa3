// Errors: argument validation at submit, duplicate names, cross-rank mismatches reaching
// every rank, and sessions that stay usable or restart.
#include <chrono>

#include "engine_world.h"

namespace kolo::test {
namespace {

struct MismatchCase {
  const char* label;
  // Adjusts rank 1's submission.
  std::function<void(Tensor&, OpOptions&)> skew;
  const char* field;  // must appear in the message
};

TEST(EngineErrors, EveryMismatchKindReachesEveryRankAndSessionGoesOn) {
  const std::vector<MismatchCase> cases = {
      {"shape",
       [](Tensor& t, OpOptions&) {
         t.shape = {2, 3};
       },
       "shape"},
      {"dtype", [](Tensor& t, OpOptions&) { t.dtype = DataType::kInt32; }, "dtype"},
      {"reduce op", [](Tensor&, OpOptions& o) { o.reduceOp = ReduceOp::kMax; }, "reduce op"},
      {"prescale", [](Tensor&, OpOptions& o) { o.prescale = 2.0; }, "prescale"},
      {"postscale", [](Tensor&, OpOptions& o) { o.postscale = 3.0; }, "postscale"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    expectAllOk(runEngines(3, [&](core::Engine& e) {
      // First a good round, so the name is in the response cache.
      for (int round = 0; round < 2; ++round) {
        std::vector<float> v(6, 1.0f);
        Tensor t = tensorOf(v);
        OpOptions o;
        if (round == 1 && e.rank() == 1) c.skew(t, o);
        auto start = Clock::now();
        auto h = e.allreduce("w", t, o);
        if (!h.hasValue()) return h.status();
        Status s = h.value().wait(shortDeadline());
        if (round == 0) {
          KOLO_RETURN_IF_ERROR(s);
          continue;
        }
        KOLO_CHECK(s.code() == Code::kMismatch, "rank {}: expected kMismatch, got {}", e.rank(),
                   s.toString());
        KOLO_CHECK(s.message().find("'w'") != std::string::npos &&
                       s.message().find(c.field) != std::string::npos,
                   "rank {}: message does not name the tensor and '{}': {}", e.rank(), c.field,
                   s.message());
        KOLO_CHECK(Clock::now() - start < std::chrono::seconds(1), "error took over 1 s");
      }
      std::vector<float> v(2, 1.0f);
      auto h = e.allreduce("w.after", tensorOf(v));
      if (!h.hasValue()) return h.status();
      KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
      KOLO_CHECK(v[0] == 3.0f, "after mismatch: {}", v[0]);
      return Status::ok();
    }));
  }
}

TEST(EngineErrors, BroadcastRootMismatchNamesBothRoots) {
  expectAllOk(runEngines(2, [](core::Engine& e) {
    std::vector<float> v(3, 1.0f);
    OpOptions o;
    o.rootRank = e.rank();
    auto h = e.broadcast("b", tensorOf(v), o);
    if (!h.hasValue()) return h.status();
    Status s = h.value().wait(shortDeadline());
    KOLO_CHECK(s.code() == Code::kMismatch && s.message().find("root") != std::string::npos,
               "rank {}: {}", e.rank(), s.toString());
    return Status::ok();
  }));
}

TEST(EngineErrors, DuplicateInFlightNameFailsOnlyOnThatRank) {
  expectAllOk(runEngines(2, [](core::Engine& e) {
    std::vector<float> v(3, 1.0f), w(3, 1.0f);
    Expected<core::Handle> first = Status(Code::kInternal, "not submitted");
    if (e.rank() == 0) {
      first = e.allreduce("dup", tensorOf(v));
      if (!first.hasValue()) return first.status();
      // Rank 1 submits "dup" only after the barrier, so the first is still in flight here.
      auto second = e.allreduce("dup", tensorOf(w));
      KOLO_CHECK(!second.hasValue() && second.status().code() == Code::kInvalidArgument &&
                     second.status().message().find("'dup'") != std::string::npos,
                 "duplicate: {}", second.hasValue() ? "accepted" : second.status().toString());
    }
    auto b = e.barrier("dup.sync");
    if (!b.hasValue()) return b.status();
    KOLO_RETURN_IF_ERROR(b.value().wait(shortDeadline()));
    if (e.rank() == 1) {
      first = e.allreduce("dup", tensorOf(v));
      if (!first.hasValue()) return first.status();
    }
    KOLO_RETURN_IF_ERROR(first.value().wait(shortDeadline()));
    KOLO_CHECK(v[0] == 2.0f, "rank {}: {}", e.rank(), v[0]);
    return Status::ok();
  }));
}

TEST(EngineErrors, BadArgumentsFailAtSubmit) {
  expectAllOk(runEngines(1, [](core::Engine& e) {
    std::vector<float> v(4, 1.0f);
    auto expectInvalid = [](const Expected<core::Handle>& h, const char* what) -> Status {
      KOLO_CHECK(!h.hasValue() && h.status().code() == Code::kInvalidArgument,
                 "{}: expected kInvalidArgument, got {}", what,
                 h.hasValue() ? "a handle" : h.status().toString());
      return Status::ok();
    };
    Tensor negative = tensorOf(v, {-1});
    KOLO_RETURN_IF_ERROR(expectInvalid(e.allreduce("neg", negative), "negative dim"));
    KOLO_RETURN_IF_ERROR(expectInvalid(e.allreduce("", tensorOf(v)), "empty name"));
    Tensor null = tensorOf(v);
    null.data = nullptr;
    KOLO_RETURN_IF_ERROR(expectInvalid(e.allreduce("null", null), "null data"));
    OpOptions root;
    root.rootRank = 5;
    KOLO_RETURN_IF_ERROR(expectInvalid(e.broadcast("root", tensorOf(v), root), "bad root"));
    OpOptions splits;
    splits.splits = {3};
    KOLO_RETURN_IF_ERROR(expectInvalid(e.alltoall("split", tensorOf(v), splits), "bad splits"));
    Tensor scalar = tensorOf(v);
    scalar.shape.clear();
    KOLO_RETURN_IF_ERROR(expectInvalid(e.allgather("scalar", scalar), "scalar allgather"));
    // op=adasum: allreduce of floating-point CPU tensors only.
    OpOptions adasum;
    adasum.reduceOp = ReduceOp::kAdasum;
    std::vector<int32_t> ints(4, 1);
    KOLO_RETURN_IF_ERROR(expectInvalid(e.allreduce("ada.int", tensorOf(ints), adasum), "int"));
    Tensor device = tensorOf(v);
    device.device = 0;
    KOLO_RETURN_IF_ERROR(expectInvalid(e.allreduce("ada.gpu", device, adasum), "device"));
    KOLO_RETURN_IF_ERROR(
        expectInvalid(e.reducescatter("ada.rs", tensorOf(v), adasum), "reducescatter"));
    return Status::ok();
  }));
}

TEST(EngineErrors, DeadPeerFailsPendingOpsNamingItAndLaterSubmitsFail) {
  auto faults = std::make_shared<FaultPlan>();
  faults->kill(2);
  expectAllOk(runEngines(
      3,
      [](core::Engine& e) {
        if (e.rank() == 2) return Status::ok();
        std::vector<float> v(3, 1.0f);
        auto h = e.allreduce("x", tensorOf(v));
        if (h.hasValue()) {
          Status s = h.value().wait(shortDeadline());
          KOLO_CHECK(s.code() == Code::kIoError && s.message().find("rank 2") != std::string::npos,
                     "rank {}: {}", e.rank(), s.toString());
        }
        // Either the submit itself or a later one reports the failed session.
        const Deadline limit = shortDeadline();
        Expected<core::Handle> later = Status(Code::kInternal, "not tried");
        while (!limit.expired()) {
          later = e.allreduce("y", tensorOf(v));
          if (!later.hasValue()) break;
          (void)later.value().wait(shortDeadline());
        }
        KOLO_CHECK(
            !later.hasValue() && later.status().message().find("rank 2") != std::string::npos,
            "rank {}: submit after the failure: {}", e.rank(),
            later.hasValue() ? "accepted" : later.status().toString());
        return Status::ok();
      },
      testEngineConfig(), 60.0, faults));
}

TEST(EngineLifecycle, ReinitAfterShutdownAndSubmitAfterShutdownFails) {
  for (int session = 0; session < 2; ++session) {
    expectAllOk(runEngines(2, [](core::Engine& e) {
      std::vector<float> v(3, 1.0f);
      auto h = e.allreduce("x", tensorOf(v));
      if (!h.hasValue()) return h.status();
      KOLO_RETURN_IF_ERROR(h.value().wait(shortDeadline()));
      KOLO_RETURN_IF_ERROR(e.shutdown());
      auto late = e.allreduce("y", tensorOf(v));
      KOLO_CHECK(!late.hasValue(), "submit after shutdown succeeded");
      return Status::ok();
    }));
  }
}

TEST(EngineLifecycle, PendingOpFailsWithAbortedAtShutdown) {
  expectAllOk(runEngines(2, [](core::Engine& e) {
    std::vector<float> v(3, 1.0f);
    core::Handle h;
    if (e.rank() == 0) {
      auto submitted = e.allreduce("never.matched", tensorOf(v));
      if (!submitted.hasValue()) return submitted.status();
      h = submitted.value();
    }
    KOLO_RETURN_IF_ERROR(e.shutdown());
    if (e.rank() == 0) {
      Status s = h.wait(shortDeadline());
      KOLO_CHECK(
          s.code() == Code::kAborted && s.message().find("never.matched") != std::string::npos,
          "pending op at shutdown: {}", s.toString());
    }
    return Status::ok();
  }));
}

}  // namespace
}  // namespace kolo::test
