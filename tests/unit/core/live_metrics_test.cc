// Live metrics' parts alone: the fixed-bucket histogram, SetMetrics' counting of a batch, the
// Prometheus text a rank renders, the merge of several ranks' texts into one exposition, and
// the HTTP endpoint (routing, and a port in use named in the error).
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <vector>

#include "arrival_skew.h"
#include "metrics_histogram.h"
#include "metrics_http_server.h"
#include "metrics_snapshot.h"
#include "metrics_text.h"
#include "set_metrics.h"

namespace kolo::core {
namespace {

constexpr uint64_t kBounds[] = {10, 100, 1000};

TEST(MetricsHistogram, BucketsAreCumulativeWithUpperBoundsInclusive) {
  MetricsHistogram h(kBounds);
  for (uint64_t v : {0, 10, 11, 100, 5000, 1000}) h.observe(v);
  const MetricsHistogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 4, 5, 6}));
  EXPECT_EQ(s.count(), 6u);
  EXPECT_EQ(s.sum, 0u + 10 + 11 + 100 + 5000 + 1000);
}

BatchOps opsFor(const FusedBatch& batch, Clock::time_point submitted) {
  BatchOps ops(1);
  for (size_t i = 0; i < batch.entries.size(); ++i) {
    auto op = std::make_shared<PendingOp>();
    op->submittedAt = submitted;
    ops[0].push_back(op);
  }
  return ops;
}

FusedBatch allreduceBatch(std::vector<uint64_t> bytes) {
  FusedBatch b;
  b.op = OpType::kAllreduce;
  for (size_t i = 0; i < bytes.size(); ++i) {
    b.entries.push_back({0, i, 0, bytes[i]});
    b.totalBytes += bytes[i];
  }
  return b;
}

TEST(SetMetrics, CountsTensorsBytesBusBytesAndLatency) {
  SetMetrics m(0, {0, 1, 2, 3});
  const Clock::time_point t0 = Clock::now();
  const FusedBatch fused = allreduceBatch({40, 60});
  m.recordBatch(fused, opsFor(fused, t0), t0 + std::chrono::microseconds(30),
                t0 + std::chrono::microseconds(70), true, nullptr);
  const FusedBatch failed = allreduceBatch({8});
  m.recordBatch(failed, opsFor(failed, t0), t0, t0, false, nullptr);
  const OpMetrics& a = m.op(OpType::kAllreduce);
  EXPECT_EQ(a.ops.load(), 2u);
  EXPECT_EQ(a.failed.load(), 1u);
  EXPECT_EQ(a.bytes.load(), 100u);
  EXPECT_EQ(a.busBytes.load(), 150u);  // 100 x 2(4-1)/4
  EXPECT_EQ(a.collectiveNanos.load(), 40'000u);
  const auto latency = a.latency.snapshot();
  EXPECT_EQ(latency.count(), 2u);
  EXPECT_EQ(latency.sum, 140'000u);  // each tensor: submit at t0, done at t0 + 70 us
  EXPECT_EQ(a.batchTensors.snapshot().cumulative[1], 1u);  // one batch of 2 tensors
  m.recordNegotiation(5'000, 3, 1);
  EXPECT_EQ(m.cacheHits(), 3u);
  EXPECT_EQ(m.cacheMisses(), 1u);
}

TEST(SetMetrics, SplitsCollectiveTimeIntoPhasesWithTheRestAsOther) {
  SetMetrics m(0, {0, 1});
  const Clock::time_point t0 = Clock::now();
  const FusedBatch b = allreduceBatch({400});
  PhaseTotals phases;
  phases.nanos = {3'000, 5'000, 7'000};  // copy, reduce, transfer
  m.recordBatch(b, opsFor(b, t0), t0, t0 + std::chrono::microseconds(20), true, &phases);
  // A reading larger than the batch's span (clocks read at other instants) is cut to the span.
  phases.nanos = {4'000, 0, 9'000};
  m.recordBatch(b, opsFor(b, t0), t0, t0 + std::chrono::microseconds(10), true, &phases);
  // A failed batch counts no time.
  m.recordBatch(b, opsFor(b, t0), t0, t0 + std::chrono::microseconds(50), false, &phases);
  const OpMetrics& a = m.op(OpType::kAllreduce);
  EXPECT_EQ(a.phaseNanos[0].load(), 3'000u + 4'000u);
  EXPECT_EQ(a.phaseNanos[1].load(), 5'000u);
  EXPECT_EQ(a.phaseNanos[2].load(), 7'000u + 6'000u);
  EXPECT_EQ(a.phaseNanos[3].load(), 5'000u + 0u);
  uint64_t sum = 0;
  for (const auto& p : a.phaseNanos) sum += p.load();
  EXPECT_EQ(sum, a.collectiveNanos.load());

  const SetMetrics* sets[] = {&m};
  const std::string text = renderRankMetrics(0, sets, {});
  EXPECT_NE(text.find("# TYPE kolo_phase_seconds_total counter\n"), std::string::npos) << text;
  for (const char* sample :
       {"op=\"allreduce\",phase=\"copy\"} 7e-06\n", "op=\"allreduce\",phase=\"reduce\"} 5e-06\n",
        "op=\"allreduce\",phase=\"transfer\"} 1.3e-05\n",
        "op=\"allreduce\",phase=\"other\"} 5e-06\n"}) {
    EXPECT_NE(
        text.find(std::string("kolo_phase_seconds_total{rank=\"0\",process_set=\"0\",") + sample),
        std::string::npos)
        << sample << " in\n"
        << text;
  }
}

TEST(PhaseSampler, ClocksEveryLargeBatchAndTheFirstOfEachRunOfSmallOnes) {
  PhaseSampler sampler;
  std::vector<int> clocked;
  for (int i = 0; i < 2 * static_cast<int>(kPhaseSampleEvery) + 1; ++i) {
    if (sampler.clock(8)) clocked.push_back(i);
    EXPECT_TRUE(sampler.clock(kPhaseSampleMinBytes)) << "a large batch is always clocked";
  }
  const int every = static_cast<int>(kPhaseSampleEvery);
  EXPECT_EQ(clocked, (std::vector<int>{0, every, 2 * every}));
}

TEST(SetMetrics, SplitsAnUnclockedSmallBatchAsItsOpsLastSampleWas) {
  SetMetrics m(0, {0, 1});
  const Clock::time_point t0 = Clock::now();
  const FusedBatch small = allreduceBatch({8});
  // Before any sample, an unclocked batch is all other.
  m.recordBatch(small, opsFor(small, t0), t0, t0 + std::chrono::microseconds(10), true, nullptr);
  PhaseTotals sample;
  sample.nanos = {1'000, 2'000, 5'000};  // of 10 us: 10 %, 20 %, 50 %, other 20 %
  m.recordBatch(small, opsFor(small, t0), t0, t0 + std::chrono::microseconds(10), true, &sample);
  m.recordBatch(small, opsFor(small, t0), t0, t0 + std::chrono::microseconds(20), true, nullptr);
  // A large batch's reading is its own and leaves the small batches' shares alone.
  const FusedBatch large = allreduceBatch({kPhaseSampleMinBytes});
  PhaseTotals own;
  own.nanos = {0, 0, 30'000};
  m.recordBatch(large, opsFor(large, t0), t0, t0 + std::chrono::microseconds(30), true, &own);
  m.recordBatch(small, opsFor(small, t0), t0, t0 + std::chrono::microseconds(10), true, nullptr);
  const OpMetrics& a = m.op(OpType::kAllreduce);
  EXPECT_EQ(a.phaseNanos[0].load(), 1'000u + 2'000u + 1'000u);
  EXPECT_EQ(a.phaseNanos[1].load(), 2'000u + 4'000u + 2'000u);
  EXPECT_EQ(a.phaseNanos[2].load(), 5'000u + 10'000u + 30'000u + 5'000u);
  EXPECT_EQ(a.phaseNanos[3].load(), 10'000u + 2'000u + 4'000u + 2'000u);
  uint64_t sum = 0;
  for (const auto& p : a.phaseNanos) sum += p.load();
  EXPECT_EQ(sum, a.collectiveNanos.load());
}

TEST(RankMetrics, RendersLabelledSamplesAndHistograms) {
  SetMetrics m(0, {0, 1});
  const Clock::time_point t0 = Clock::now();
  const FusedBatch b = allreduceBatch({400});
  m.recordBatch(b, opsFor(b, t0), t0, t0 + std::chrono::microseconds(20), true, nullptr);
  const SetMetrics* sets[] = {&m};
  std::vector<PeerTraffic> traffic(2);
  traffic[1].bytesSent = 77;
  const std::string text = renderRankMetrics(1, sets, traffic);
  EXPECT_NE(text.find("# TYPE kolo_ops_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kolo_ops_total{rank=\"1\",process_set=\"0\",op=\"allreduce\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("kolo_bytes_total{rank=\"1\",process_set=\"0\",op=\"allreduce\"} 400\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("kolo_op_latency_seconds_bucket{rank=\"1\",process_set=\"0\",op=\"allreduce\","
                "le=\"+Inf\"} 1\n"),
      std::string::npos);
  EXPECT_NE(
      text.find("kolo_op_latency_seconds_bucket{rank=\"1\",process_set=\"0\",op=\"allreduce\","
                "le=\"2.5e-05\"} 1\n"),
      std::string::npos)
      << text;
  // Only collectives that ran are shown; a rank shows no traffic to itself.
  EXPECT_EQ(text.find("op=\"broadcast\""), std::string::npos);
  EXPECT_EQ(text.find("peer=\"1\""), std::string::npos);
  EXPECT_NE(text.find("kolo_transport_sent_bytes_total{rank=\"1\",peer=\"0\"} 0\n"),
            std::string::npos);
}

TEST(Exposition, MergeGroupsEachFamilysSamplesUnderOneHeader) {
  auto rankText = [](int r) {
    ExpositionWriter w;
    w.family("a_total", "counter", "first");
    w.sample("a_total", "rank=\"" + std::to_string(r) + "\"", uint64_t(r + 10));
    w.family("b", "gauge", "second");
    w.sample("b", "rank=\"" + std::to_string(r) + "\"", 0.5);
    return w.take();
  };
  const std::vector<std::string> texts = {"# kolo-pid 1\n" + rankText(0), rankText(1)};
  EXPECT_EQ(mergeExpositions(texts),
            "# HELP a_total first\n# TYPE a_total counter\n"
            "a_total{rank=\"0\"} 10\na_total{rank=\"1\"} 11\n"
            "# HELP b second\n# TYPE b gauge\nb{rank=\"0\"} 0.5\nb{rank=\"1\"} 0.5\n");
}

TEST(ArrivalSkew, NamesTheMemberThatArrivesLastOnBothPaths) {
  ArrivalSkew skew(3);
  const ArrivalSkew::Stamp t0 = 1'000'000'000;
  const auto ms = [&](int n) { return t0 + ArrivalSkew::Stamp{n} * 1'000'000; };
  // Negotiated: members 0 and 1 send "a" at 0 ms, member 2 at 30 ms.
  skew.requestSeen("a", 0, ms(0));
  skew.requestSeen("a", 1, ms(0));
  skew.requestSeen("a", 2, ms(30));
  skew.requestComplete("a", ms(30));
  // Cached, bit 65: member 0 votes at 10 ms, member 1 at 15 ms, member 2 completes it at 50 ms.
  const uint64_t none[2] = {0, 0};
  const uint64_t bit65[2] = {0, 2};
  const uint64_t* first[] = {bit65, none, none};
  skew.votesSeen(first, none, 2, ms(10));
  const uint64_t* second[] = {bit65, bit65, none};
  skew.votesSeen(second, none, 2, ms(15));
  const uint64_t* all[] = {bit65, bit65, bit65};
  skew.votesSeen(all, bit65, 2, ms(50));
  // Everyone at once: measured, nobody last.
  skew.requestSeen("b", 0, ms(60));
  skew.requestSeen("b", 1, ms(60));
  skew.requestSeen("b", 2, ms(60));
  skew.requestComplete("b", ms(60));

  EXPECT_EQ(skew.measured(), 3u);
  EXPECT_EQ(skew.timesLast(0), 0u);
  EXPECT_EQ(skew.timesLast(1), 0u);
  EXPECT_EQ(skew.timesLast(2), 2u);
  EXPECT_EQ(skew.lagNanos(0), 0u);
  EXPECT_EQ(skew.lagNanos(1), 5'000'000u);
  EXPECT_EQ(skew.lagNanos(2), 70'000'000u);  // 30 + 40 ms
  const int32_t ranks[] = {4, 5, 6};
  EXPECT_EQ(skew.summary(ranks),
            "rank 6 arrived last in 2 of 3 collectives, on average 23.33 ms after the first rank");
}

std::string httpRequest(uint16_t port, const std::string& request) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(socket, asio::buffer(request));
  std::string response;
  boost::system::error_code ec;
  asio::read(socket, asio::dynamic_buffer(response), ec);  // until the server closes
  return response;
}

TEST(MetricsHttpServer, ServesMetricsOnlyAndNamesAPortInUse) {
  auto server = MetricsHttpServer::start("127.0.0.1", 0, [] { return std::string("x_total 3\n"); });
  ASSERT_TRUE(server.hasValue()) << server.status().toString();
  const uint16_t port = server.value()->port();
  const std::string ok = httpRequest(port, "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(ok.starts_with("HTTP/1.1 200 OK\r\n")) << ok;
  EXPECT_NE(ok.find("text/plain; version=0.0.4"), std::string::npos) << ok;
  EXPECT_TRUE(ok.ends_with("\r\n\r\nx_total 3\n")) << ok;
  EXPECT_TRUE(
      httpRequest(port, "GET /secret HTTP/1.1\r\nHost: h\r\n\r\n").starts_with("HTTP/1.1 404"));
  EXPECT_TRUE(httpRequest(port, "POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
                  .starts_with("HTTP/1.1 405"));

  auto second = MetricsHttpServer::start("127.0.0.1", port, [] { return std::string(); });
  ASSERT_FALSE(second.hasValue());
  const std::string message = second.status().message();
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
  EXPECT_NE(message.find("bind failed"), std::string::npos) << message;
  EXPECT_NE(message.find("in use"), std::string::npos) << message;

  auto bad = MetricsHttpServer::start("localhost-ish", 0, [] { return std::string(); });
  ASSERT_FALSE(bad.hasValue());
  EXPECT_NE(bad.status().message().find("KOLO_METRICS_ADDR 'localhost-ish'"), std::string::npos);
}

}  // namespace
}  // namespace kolo::core
