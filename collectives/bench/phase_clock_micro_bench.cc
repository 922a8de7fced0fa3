// The phase clock's own cost (Google Benchmark): a ScopedPhase with the clock off (one
// thread_local bool test) and on (two clock reads), and the 8-byte reduceMany that every
// small shm allreduce runs, with the clock off and on. What metrics or a timeline add to an
// 8-byte shm allreduce through the runtime is about three scopes (copy in, flag wait, reduce).
//
//   build/bin/kolo_phase_clock_micro_bench
#include <benchmark/benchmark.h>

#include "kolo/collectives/phase_clock.h"
#include "kolo/collectives/reduce.h"

namespace {

void scopedPhase(benchmark::State& state) {
  kolo::PhaseClock::setEnabled(state.range(0) != 0);
  for (auto _ : state) {
    kolo::ScopedPhase phase(kolo::Phase::kCopy);
    benchmark::ClobberMemory();
  }
  state.counters["copy_ns_counted"] =
      static_cast<double>(kolo::PhaseClock::totals()[kolo::Phase::kCopy]);
  state.SetLabel(state.range(0) != 0 ? "clock on" : "clock off");
  kolo::PhaseClock::setEnabled(false);
}
BENCHMARK(scopedPhase)->Arg(0)->Arg(1);

void reduceMany8Bytes(benchmark::State& state) {
  kolo::PhaseClock::setEnabled(state.range(0) != 0);
  float a[2] = {1.0f, 2.0f}, b[2] = {3.0f, 4.0f}, out[2];
  const void* inputs[] = {a, b};
  for (auto _ : state) {
    kolo::reduceMany(kolo::DataType::kFloat32, kolo::ReduceOp::kSum, out, inputs, 2, 2, 0);
    benchmark::DoNotOptimize(out);
  }
  state.SetLabel(state.range(0) != 0 ? "clock on" : "clock off");
  kolo::PhaseClock::setEnabled(false);
}
BENCHMARK(reduceMany8Bytes)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
