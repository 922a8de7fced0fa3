// Point-to-point's fast path through the Engine, ranks as threads over loopback: transfers
// whose (direction, peer, tag) has nothing pending start on the caller's thread, and an eager
// send whose shape the receiver accepted before on that (peer, tag) completes without a reply.
// Checked: many small messages of one tag around large ones keep their order and contents
// (receives posted before and after the sends, several rounds so later ones are agreed); an
// agreed send completes before its receive is even posted; a receive that disagrees with an
// agreed shape fails naming both sides while the tag stays usable; a first send nobody
// receives ends with its deadline; a caller driving its own wait when the session shuts down
// gets kAborted.
#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "engine_world.h"

namespace kolo::test {
namespace {

Tensor viewOf(std::vector<int32_t>& v) {
  Tensor t;
  t.data = v.data();
  t.output = v.data();
  t.dtype = DataType::kInt32;
  t.shape = {static_cast<int64_t>(v.size())};
  return t;
}

Status outcomeOf(const Expected<core::Handle>& h) {
  if (!h.hasValue()) return h.status();
  return h.value().wait(shortDeadline());
}

Status barrier(core::Engine& e, const std::string& name) {
  std::vector<float> v(1, 1.0f);
  return outcomeOf(e.allreduce(name, tensorOf(v)));
}

// Message k of a round: small (4 elements) except every 25th, which is large (rendezvous).
size_t sizeOf(int k) { return k % 25 == 12 ? 60000 : 4; }
int32_t valueOf(int round, int k, size_t i) {
  return round * 100000 + k * 100 + static_cast<int32_t>(i % 97);
}

TEST(EngineP2PFast, ManySmallMessagesOfOneTagAroundLargeOnesKeepOrderAndContents) {
  expectAllOk(runEngines(2, [](core::Engine& e) -> Status {
    constexpr int kMessages = 75;
    for (int round = 0; round < 4; ++round) {
      // Even rounds: receives posted first; odd rounds: every send is posted first.
      const bool recvFirst = round % 2 == 0;
      std::vector<std::vector<int32_t>> bufs;
      for (int k = 0; k < kMessages; ++k) {
        bufs.emplace_back(sizeOf(k));
        for (size_t i = 0; i < bufs.back().size(); ++i) {
          bufs.back()[i] = e.rank() == 0 ? valueOf(round, k, i) : -1;
        }
      }
      std::vector<core::Handle> hs;
      auto post = [&] {
        for (auto& b : bufs) {
          hs.push_back(e.rank() == 0 ? e.send(viewOf(b), 1, 7).valueOrThrow()
                                     : e.recv(viewOf(b), 0, 7).valueOrThrow());
        }
      };
      if (recvFirst == (e.rank() == 1)) post();
      KOLO_RETURN_IF_ERROR(barrier(e, fmt::format("posted.{}", round)));
      if (recvFirst != (e.rank() == 1)) post();
      for (auto& h : hs) KOLO_RETURN_IF_ERROR(h.wait(shortDeadline()));
      for (int k = 0; k < kMessages; ++k) {
        const auto& b = bufs[static_cast<size_t>(k)];
        for (size_t i = 0; i < b.size(); ++i) {
          KOLO_CHECK(b[i] == valueOf(round, k, i),
                     "round {}: message {} element {} holds {}, expected {}", round, k, i, b[i],
                     valueOf(round, k, i));
        }
      }
    }
    return Status::ok();
  }));
}

// More keys matching at once than the exchange's small lookup holds (40 tags, two receives
// each, posted before any send; the sends come in reverse tag order): each message still
// reaches the receive of its own tag, in posting order within the tag.
TEST(EngineP2PFast, ManyTagsPostedAheadEachGetTheirOwnMessagesInOrder) {
  expectAllOk(runEngines(2, [](core::Engine& e) -> Status {
    constexpr int kTags = 40;
    std::vector<std::vector<int32_t>> bufs(2 * kTags, std::vector<int32_t>(3, -1));
    std::vector<core::Handle> hs;
    if (e.rank() == 1) {
      for (int t = 0; t < kTags; ++t) {
        for (int n = 0; n < 2; ++n) {
          hs.push_back(e.recv(viewOf(bufs[static_cast<size_t>(2 * t + n)]), 0, t).valueOrThrow());
        }
      }
    }
    KOLO_RETURN_IF_ERROR(barrier(e, "tags.posted"));
    if (e.rank() == 0) {
      for (int t = kTags - 1; t >= 0; --t) {
        for (int n = 0; n < 2; ++n) {
          auto& b = bufs[static_cast<size_t>(2 * t + n)];
          std::fill(b.begin(), b.end(), t * 10 + n);
          hs.push_back(e.send(viewOf(b), 1, t).valueOrThrow());
        }
      }
    }
    for (auto& h : hs) KOLO_RETURN_IF_ERROR(h.wait(shortDeadline()));
    for (int t = 0; t < kTags; ++t) {
      for (int n = 0; n < 2; ++n) {
        const auto& b = bufs[static_cast<size_t>(2 * t + n)];
        KOLO_CHECK(b == std::vector<int32_t>(3, t * 10 + n), "tag {} message {} holds {}", t, n,
                   b[0]);
      }
    }
    return Status::ok();
  }));
}

TEST(EngineP2PFast, AnAgreedEagerSendCompletesBeforeItsReceiveIsPosted) {
  expectAllOk(runEngines(2, [](core::Engine& e) -> Status {
    std::vector<int32_t> v(6, e.rank() == 0 ? 1 : 0);
    // The first message of this shape waits for the receiver's verdict.
    KOLO_RETURN_IF_ERROR(
        outcomeOf(e.rank() == 0 ? e.send(viewOf(v), 1, 2) : e.recv(viewOf(v), 0, 2)));
    KOLO_CHECK(v == std::vector<int32_t>(6, 1), "rank {}: first message holds {}", e.rank(), v[0]);
    for (int i = 2; i < 6; ++i) {
      // The receive is posted only after the barrier, which rank 0 reaches only once its send
      // completed: that needs no reply.
      if (e.rank() == 0) {
        std::fill(v.begin(), v.end(), i);
        KOLO_RETURN_IF_ERROR(outcomeOf(e.send(viewOf(v), 1, 2)));
        std::fill(v.begin(), v.end(), -i);  // the caller's buffer is free again
      }
      KOLO_RETURN_IF_ERROR(barrier(e, fmt::format("sent.{}", i)));
      if (e.rank() == 1) {
        KOLO_RETURN_IF_ERROR(outcomeOf(e.recv(viewOf(v), 0, 2)));
        KOLO_CHECK(v == std::vector<int32_t>(6, i), "message {} holds {}", i, v[0]);
      }
    }
    return Status::ok();
  }));
}

TEST(EngineP2PFast, AReceiveThatDisagreesWithAnAgreedShapeIsNamedAndTheTagGoesOn) {
  expectAllOk(runEngines(2, [](core::Engine& e) -> Status {
    std::vector<int32_t> v(4, e.rank() == 0 ? 3 : 0);
    auto exchange = [&](std::vector<int32_t>& b) {
      return outcomeOf(e.rank() == 0 ? e.send(viewOf(b), 1, 9) : e.recv(viewOf(b), 0, 9));
    };
    KOLO_RETURN_IF_ERROR(exchange(v));  // agreed from now on
    KOLO_RETURN_IF_ERROR(exchange(v));
    KOLO_CHECK(v == std::vector<int32_t>(4, 3), "rank {}: agreed message holds {}", e.rank(), v[0]);
    std::vector<int32_t> wider(5, 0);
    const Status st = exchange(e.rank() == 0 ? v : wider);
    if (e.rank() == 1) {
      const std::string expected = "recv from rank 0 tag 9: expected 5 int32 elements, rank 0 sent "
                                   "4 int32";
      KOLO_CHECK(st.code() == Code::kMismatch && st.message().find(expected) != std::string::npos,
                 "receiver: got {}", st.toString());
    } else {
      // Handed to the transport before the receiver looked at it: the sender is not told.
      KOLO_RETURN_IF_ERROR(st);
    }
    std::vector<int32_t> next(4, e.rank() == 0 ? 11 : 0);
    KOLO_RETURN_IF_ERROR(exchange(next));
    KOLO_CHECK(next == std::vector<int32_t>(4, 11), "rank {}: next message holds {}", e.rank(),
               next[0]);
    return Status::ok();
  }));
}

TEST(EngineP2PFast, AFirstSendNobodyReceivesEndsWithItsDeadline) {
  auto results = runEngines(
      2,
      [](core::Engine& e) -> Status {
        if (e.rank() == 1) return Status::ok();
        std::vector<int32_t> v(4, 1);
        auto h = e.send(viewOf(v), 1, 12);
        if (!h.hasValue()) return h.status();
        const Status s = h.value().wait(Deadline::afterSeconds(30));
        KOLO_CHECK(s.code() == Code::kTimeout, "got {}", s.toString());
        KOLO_CHECK(s.message().find("send to rank 1 tag 12") != std::string::npos, "got {}",
                   s.toString());
        return Status::ok();
      },
      testEngineConfig(), 60.0, nullptr, /*timeoutSeconds=*/2.0);
  expectAllOk(results);
}

// The waiter drives the transfers itself (OpState's wait helper); a shutdown from another
// thread must end that wait, not hang it or leave it touching a stopped exchange.
TEST(EngineP2PFast, AWaitInProgressEndsWhenTheSessionShutsDown) {
  expectAllOk(runEngines(2, [](core::Engine& e) -> Status {
    if (e.rank() == 1) return Status::ok();
    std::vector<int32_t> v(4, 0);
    KOLO_ASSIGN_OR_RETURN(core::Handle h, e.recv(viewOf(v), 1, 13));
    Status waited = Status(Code::kInternal, "the waiter did not run");
    std::thread waiter([&] { waited = h.wait(Deadline::afterSeconds(30)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const Status down = e.shutdown();
    waiter.join();
    KOLO_CHECK(waited.code() == Code::kAborted &&
                   waited.message().find("recv from rank 1 tag 13") != std::string::npos,
               "the wait ended with {} (shutdown: {})", waited.toString(), down.toString());
    return Status::ok();
  }));
}

}  // namespace
}  // namespace kolo::test
