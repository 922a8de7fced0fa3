// Point-to-point through kolo.hpp between real processes (kolorun -np 2, 3, 4 over shm and
// tcp; mpirun with KOLO_CPU_OPERATIONS=kolo): every dtype around a ring, tags posted out of
// order, 64 MiB there and back, an isend that waits across collectives, ranks 2.. running
// collectives of their own set while 0 and 1 talk, and mismatches named on both sides after
// which the job goes on (small, 40 KiB, large; a large message to a small receive with another
// receive behind it; another dtype of the same size). `unsupported`: under
// KOLO_CPU_OPERATIONS=mpi every send and receive is refused with kUnavailable naming the
// transport. Exits non-zero with the failing check.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "kolo/kolo.hpp"

namespace {

int gRank = -1;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "rank %d: FAILED: %s\n", gRank, what.c_str());
  std::exit(1);
}

void check(bool ok, const std::string& what) {
  if (!ok) die(what);
}

kolo::Handle submitted(kolo::Expected<kolo::Handle> h, const std::string& what) {
  if (!h.hasValue()) die(what + ": " + h.status().toString());
  return h.value();
}

void waitOk(const kolo::Handle& h, const std::string& what) {
  kolo::Status s = h.wait(120);
  if (!s.isOk()) die(what + ": " + s.toString());
}

kolo::Tensor bytesTensor(std::vector<std::byte>& buf, kolo::DataType dt) {
  return {buf.data(), buf.data(), dt, {static_cast<int64_t>(buf.size() / kolo::dataTypeSize(dt))}};
}

void everyDtypeAroundARing(const kolo::Session& s) {
  const int n = s.size(), r = s.rank();
  for (kolo::DataType dt : kolo::kAllDataTypes) {
    const auto fill = [&](int from, std::vector<std::byte>& b) {
      for (size_t i = 0; i < b.size(); ++i)
        b[i] = std::byte((i * 29 + static_cast<size_t>(from) * 71) & 0xff);
    };
    std::vector<std::byte> out(1001 * kolo::dataTypeSize(dt)), in(out.size()), want(out.size());
    fill(r, out);
    fill((r + n - 1) % n, want);
    const std::string what = "ring of " + std::string(kolo::dataTypeName(dt));
    auto hr = submitted(s.recv(bytesTensor(in, dt), (r + n - 1) % n, 1), what);
    auto hs = submitted(s.send(bytesTensor(out, dt), (r + 1) % n, 1), what);
    waitOk(hs, what);
    waitOk(hr, what);
    check(in == want, what + ": received bytes differ");
  }
}

void tagsPostedOutOfOrder(const kolo::Session& s) {
  if (s.rank() > 1) return;
  std::vector<std::vector<int32_t>> bufs(6, std::vector<int32_t>(9));
  std::vector<kolo::Handle> hs;
  for (int k = 0; k < 6; ++k) {
    // Rank 0 sends tags 1,1,1,2,2,2; rank 1 posts 2,2,2 first, then 1,1,1.
    const int tag = s.rank() == 0 ? 1 + k / 3 : 2 - k / 3;
    auto& b = bufs[static_cast<size_t>(k)];
    std::fill(b.begin(), b.end(), s.rank() == 0 ? tag * 10 + k % 3 : -1);
    kolo::Tensor t = kolo::tensorView(std::span(b));
    hs.push_back(submitted(s.rank() == 0 ? s.send(t, 1, tag) : s.recv(t, 0, tag), "tags"));
  }
  for (auto& h : hs) waitOk(h, "tags");
  if (s.rank() == 1) {
    for (int k = 0; k < 6; ++k) {
      const int tag = 2 - k / 3;
      check(bufs[size_t(k)] == std::vector<int32_t>(9, tag * 10 + k % 3),
            "receive " + std::to_string(k) + " of tag " + std::to_string(tag) + " holds " +
                std::to_string(bufs[size_t(k)][0]));
    }
  }
}

void largeThereAndBack(const kolo::Session& s) {
  if (s.rank() > 1) return;
  const size_t n = 64u << 20 >> 2;  // 64 MiB of float32
  std::vector<float> v(n);
  if (s.rank() == 0) {
    std::iota(v.begin(), v.end(), 0.0f);
    waitOk(submitted(s.send(kolo::tensorView(std::span(v)), 1, 64), "64 MiB"), "64 MiB send");
    std::vector<float> back(n, -1.0f);
    waitOk(submitted(s.recv(kolo::tensorView(std::span(back)), 1, 65), "64 MiB"), "back");
    check(back == v, "64 MiB came back changed");
  } else {
    waitOk(submitted(s.recv(kolo::tensorView(std::span(v)), 0, 64), "64 MiB"), "64 MiB recv");
    for (size_t i = 0; i < n; ++i) check(v[i] == static_cast<float>(i), "64 MiB element differs");
    waitOk(submitted(s.send(kolo::tensorView(std::span(v)), 0, 65), "64 MiB"), "back");
  }
}

void isendAcrossCollectives(const kolo::Session& s) {
  std::vector<double> msg(100000);
  std::iota(msg.begin(), msg.end(), 0.25);
  kolo::Handle pending;
  if (s.rank() == 0) pending = submitted(s.send(kolo::tensorView(std::span(msg)), 1, 9), "isend");
  for (int i = 0; i < 3; ++i) {
    std::vector<float> v(5, 1.0f);
    waitOk(submitted(s.allreduce("p2p.between." + std::to_string(i), kolo::tensorView(std::span(v)),
                                 {.reduceOp = kolo::ReduceOp::kSum}),
                     "allreduce"),
           "allreduce between");
    check(v == std::vector<float>(5, static_cast<float>(s.size())), "allreduce between");
  }
  if (s.rank() == 1) {
    std::vector<double> got(msg.size());
    waitOk(submitted(s.recv(kolo::tensorView(std::span(got)), 0, 9), "recv"), "recv after");
    check(got == msg, "message sent before the collectives differs");
  }
  if (s.rank() == 0) waitOk(pending, "isend");
}

// 0 and 1 exchange while 2.. run allreduces of their own set, which 0 and 1 never join.
void othersKeepTheirCollectives(const kolo::Session& s) {
  if (s.size() < 4) return;
  std::vector<int32_t> rest;
  for (int r = 2; r < s.size(); ++r) rest.push_back(r);
  auto set = s.addProcessSet(rest);
  if (!set.hasValue()) die("addProcessSet: " + set.status().toString());
  std::vector<int64_t> v(1000, s.rank() == 0 ? 77 : 0);
  if (s.rank() == 0) waitOk(submitted(s.send(kolo::tensorView(std::span(v)), 1, 3), "s"), "send");
  if (s.rank() == 1) {
    waitOk(submitted(s.recv(kolo::tensorView(std::span(v)), 0, 3), "r"), "recv");
    check(v == std::vector<int64_t>(1000, 77), "pair message");
  }
  if (s.rank() >= 2) {
    for (int i = 0; i < 5; ++i) {
      std::vector<float> x(4, 1.0f);
      waitOk(submitted(s.allreduce("rest." + std::to_string(i), kolo::tensorView(std::span(x)),
                                   {.reduceOp = kolo::ReduceOp::kSum, .processSet = set.value()}),
                       "rest"),
             "rest allreduce");
      check(x == std::vector<float>(4, static_cast<float>(rest.size())), "rest allreduce");
    }
  }
  kolo::Status removed = s.removeProcessSet(set.value());
  check(removed.isOk(), "removeProcessSet: " + removed.toString());
}

void mismatchThenGoOn(const kolo::Session& s) {
  if (s.rank() <= 1) {
    std::vector<int32_t> sent(8, 1);
    std::vector<float> want(16);
    kolo::Handle h = submitted(s.rank() == 0 ? s.send(kolo::tensorView(std::span(sent)), 1, 3)
                                             : s.recv(kolo::tensorView(std::span(want)), 0, 3),
                               "mismatch");
    kolo::Status st = h.wait(120);
    const std::string expected =
        s.rank() == 0 ? "send to rank 1 tag 3: sent 8 int32 elements, rank 1 expected 16 float32"
                      : "recv from rank 0 tag 3: expected 16 float32 elements, rank 0 sent 8 int32";
    check(st.code() == kolo::Code::kMismatch && st.message().find(expected) != std::string::npos,
          "mismatch: got " + st.toString());
  }
  std::vector<float> v(3, 2.0f);
  waitOk(submitted(s.allreduce("after.mismatch", kolo::tensorView(std::span(v)),
                               {.reduceOp = kolo::ReduceOp::kSum}),
                   "after"),
         "allreduce after the mismatch");
  check(v == std::vector<float>(3, 2.0f * static_cast<float>(s.size())), "allreduce after");
}

// Rank 0 sends `count` floats on `tag`, rank 1 expects one element more: both sides name both
// shapes, nothing reaches the receive buffer, and the tag then carries `rounds` matching
// messages exactly. Sizes: a rendezvous message (over shared memory one the receiver would read
// from the sender's memory), and 40 KiB, eager over TCP (Channel::eagerBytes, 60 KiB there, so
// the payload already on its way is drained) and rendezvous over shared memory.
void oneShortThenGoOn(const kolo::Session& s, size_t count, int32_t tag, int rounds) {
  if (s.rank() > 1) return;
  const std::string what = fmt::format("mismatch of {} elements", count);
  std::vector<float> sent(count, 1.0f);
  std::vector<float> want(count + 1, -1.0f);
  kolo::Handle h = submitted(s.rank() == 0 ? s.send(kolo::tensorView(std::span(sent)), 1, tag)
                                           : s.recv(kolo::tensorView(std::span(want)), 0, tag),
                             what);
  kolo::Status st = h.wait(120);
  const std::string expected =
      s.rank() == 0 ? fmt::format("send to rank 1 tag {}: sent {} float32 elements, rank 1 "
                                  "expected {} float32",
                                  tag, count, count + 1)
                    : fmt::format("recv from rank 0 tag {}: expected {} float32 elements, rank 0 "
                                  "sent {} float32",
                                  tag, count + 1, count);
  check(st.code() == kolo::Code::kMismatch && st.message().find(expected) != std::string::npos,
        what + ": got " + st.toString());
  if (s.rank() == 1) check(want == std::vector<float>(want.size(), -1.0f), "rejected data read");
  for (int round = 0; round < rounds; ++round) {
    const float value = 5.0f + static_cast<float>(round);
    std::vector<float> again(count, s.rank() == 0 ? value : 0.0f);
    waitOk(submitted(s.rank() == 0 ? s.send(kolo::tensorView(std::span(again)), 1, tag)
                                   : s.recv(kolo::tensorView(std::span(again)), 0, tag),
                     "after the " + what),
           "after the " + what);
    check(again == std::vector<float>(count, value), "after the " + what + ": data");
  }
}

// A small receive meets a large (rendezvous) message and rejects it; the small message after it
// on the same tag must land in the second receive, not in the first one's buffer (whose
// payload receive, posted early, is withdrawn). Both receives are posted before either waits.
void largeRejectedThenSmall(const kolo::Session& s, int32_t tag) {
  if (s.rank() > 1) return;
  const size_t small = 10, large = size_t{1} << 18;
  const std::string what = "a large message rejected by a small receive";
  if (s.rank() == 0) {
    std::vector<float> big(large, 2.0f), next(small, 7.0f);
    kolo::Status st = submitted(s.send(kolo::tensorView(std::span(big)), 1, tag), what).wait(120);
    check(st.code() == kolo::Code::kMismatch, what + ": sender got " + st.toString());
    waitOk(submitted(s.send(kolo::tensorView(std::span(next)), 1, tag), what), what + ", next");
    return;
  }
  std::vector<float> first(small, -1.0f), second(small, -1.0f);
  kolo::Handle h1 = submitted(s.recv(kolo::tensorView(std::span(first)), 0, tag), what);
  kolo::Handle h2 = submitted(s.recv(kolo::tensorView(std::span(second)), 0, tag), what);
  kolo::Status st = h1.wait(120);
  check(st.code() == kolo::Code::kMismatch &&
            st.message().find(fmt::format("rank 0 sent {} float32", large)) != std::string::npos,
        what + ": receiver got " + st.toString());
  waitOk(h2, what + ", next");
  check(first == std::vector<float>(small, -1.0f), what + ": the rejected receive was written");
  check(second == std::vector<float>(small, 7.0f), what + ": the next message's data");
}

// The same byte count in another dtype is a mismatch too (named with both dtypes), and the
// tag goes on.
void otherDtypeSameSize(const kolo::Session& s, int32_t tag) {
  if (s.rank() > 1) return;
  const std::string what = "int32 sent to a float32 receive";
  std::vector<int32_t> ints(16, 3);
  std::vector<float> floats(16, 0.0f);
  kolo::Status st =
      submitted(s.rank() == 0 ? s.send(kolo::tensorView(std::span(ints)), 1, tag)
                              : s.recv(kolo::tensorView(std::span(floats)), 0, tag),
                what)
          .wait(120);
  const std::string expected = s.rank() == 0 ? "rank 1 expected 16 float32" : "rank 0 sent 16 int32";
  check(st.code() == kolo::Code::kMismatch && st.message().find(expected) != std::string::npos,
        what + ": got " + st.toString());
  std::vector<float> again(16, s.rank() == 0 ? 4.5f : 0.0f);
  waitOk(submitted(s.rank() == 0 ? s.send(kolo::tensorView(std::span(again)), 1, tag)
                                 : s.recv(kolo::tensorView(std::span(again)), 0, tag),
                   what + ", next"),
         what + ", next");
  check(again == std::vector<float>(16, 4.5f), what + ": the next message's data");
}

void refusedOverMpi(const kolo::Session& s) {
  std::vector<float> v(4);
  auto h = s.send(kolo::tensorView(std::span(v)), (s.rank() + 1) % s.size(), 0);
  check(!h.hasValue() && h.status().code() == kolo::Code::kUnavailable &&
            h.status().message().find("not supported over the mpi transport") != std::string::npos,
        std::string("send over mpi: ") + (h.hasValue() ? "accepted" : h.status().toString()));
}

}  // namespace

int main(int argc, char** argv) {
  auto session = kolo::Session::init();
  if (!session.hasValue()) die("init: " + session.status().toString());
  const kolo::Session& s = session.value();
  gRank = s.rank();
  if (argc > 1 && std::strcmp(argv[1], "unsupported") == 0) {
    refusedOverMpi(s);
  } else {
    everyDtypeAroundARing(s);
    tagsPostedOutOfOrder(s);
    largeThereAndBack(s);
    isendAcrossCollectives(s);
    othersKeepTheirCollectives(s);
    mismatchThenGoOn(s);
    oneShortThenGoOn(s, size_t{1} << 18, 4, 1);
    oneShortThenGoOn(s, 10240, 5, 3);
    largeRejectedThenSmall(s, 6);
    otherDtypeSameSize(s, 7);
  }
  kolo::Status down = s.shutdown();
  if (!down.isOk()) die("shutdown: " + down.toString());
  std::printf("rank %d: p2p checks passed\n", gRank);
  return 0;
}
