// The TCP transport's per-byte and per-connection costs, on their own (Google Benchmark):
// CRC32C of a frame's payload (bytes_per_second; both ends pay it once per byte) and the
// handshake's proof (HMAC-SHA256 over two hellos; each end computes two per connection).
//
//   build/bin/kolo_tcp_micro_bench
#include <benchmark/benchmark.h>

#include <cstddef>
#include <string>
#include <vector>

#include "transport/tcp/crc32c.h"
#include "transport/tcp/tcp_handshake.h"

namespace {

void crc32cThroughput(benchmark::State& state) {
  std::vector<std::byte> data(static_cast<size_t>(state.range(0)), std::byte{0x5a});
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = kolo::tcp::crc32cExtend(crc, data);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
  state.SetLabel(kolo::tcp::crc32cHardware() ? "sse4.2" : "table");
}
BENCHMARK(crc32cThroughput)->Arg(4 << 10)->Arg(256 << 10)->Arg(4 << 20)->Arg(64 << 20);

void helloProof(benchmark::State& state) {
  const std::string secret(32, 'k');
  const kolo::tcp::Hello connector{1, 8, std::string(32, 'j'), kolo::tcp::freshNonce()};
  const kolo::tcp::Hello acceptor{0, 8, std::string(32, 'j'), kolo::tcp::freshNonce()};
  for (auto _ : state) {
    auto proof =
        kolo::tcp::proveHello(secret, kolo::tcp::HelloRole::kConnector, connector, acceptor);
    benchmark::DoNotOptimize(proof);
  }
}
BENCHMARK(helloProof);

void freshNonce(benchmark::State& state) {
  for (auto _ : state) {
    auto nonce = kolo::tcp::freshNonce();
    benchmark::DoNotOptimize(nonce);
  }
}
BENCHMARK(freshNonce);

}  // namespace

BENCHMARK_MAIN();
