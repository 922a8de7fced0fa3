// Reduction kernel throughput per variant, dtype, op and size, next to memcpy of the same bytes.
// "bytes_per_second" counts the bytes the kernel touches: for dst OP= src that is two reads and
// one write of the array (memcpy: one read, one write), so the two are comparable as bandwidth.
// VARIANT/DTYPE/sum-of-4/{pairwise,once}/SIZE: four 16-bit inputs of SIZE each summed pairwise
// (rounding after each step, reduceTwo) and with one rounding (reduceMany, what the shm arena
// runs); bytes count the four reads and one write.
//
//   kolo_reduce_bench --benchmark_filter='float32/sum'
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "kolo/collectives/reduce_variants.h"

namespace {

using kolo::DataType;
using kolo::ReduceOp;
using kolo::ReduceVariant;

constexpr size_t kSizes[] = {size_t{8} << 10, size_t{32} << 10, size_t{1} << 20, size_t{64} << 20};

std::vector<char> patternBuffer(size_t bytes, DataType type) {
  std::vector<char> buf(bytes);
  // Small finite values in every dtype: ones for floats, byte 1 for integers.
  const size_t elem = kolo::dataTypeSize(type);
  for (size_t i = 0; i + elem <= bytes; i += elem) {
    switch (type) {
      case DataType::kFloat16: {
        const uint16_t v = 0x3c00;
        std::memcpy(&buf[i], &v, 2);
        break;
      }
      case DataType::kBFloat16: {
        const uint16_t v = 0x3f80;
        std::memcpy(&buf[i], &v, 2);
        break;
      }
      case DataType::kFloat32: {
        const float v = 1.0f;
        std::memcpy(&buf[i], &v, 4);
        break;
      }
      case DataType::kFloat64: {
        const double v = 1.0;
        std::memcpy(&buf[i], &v, 8);
        break;
      }
      default:
        std::memset(&buf[i], 1, elem);
    }
  }
  return buf;
}

void reduceBench(benchmark::State& state, const ReduceVariant* kernels, DataType type, ReduceOp op,
                 size_t bytes) {
  auto dst = patternBuffer(bytes, type);
  const auto src = patternBuffer(bytes, type);
  const size_t count = bytes / kolo::dataTypeSize(type);
  for (auto _ : state) {
    kernels->reduceTwo(type, op, dst.data(), dst.data(), src.data(), count);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes * 3));
}

void memcpyBench(benchmark::State& state, size_t bytes) {
  std::vector<char> dst(bytes, 1);
  const std::vector<char> src(bytes, 2);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes * 2));
}

void scaleBench(benchmark::State& state, const ReduceVariant* kernels, DataType type,
                size_t bytes) {
  auto buf = patternBuffer(bytes, type);
  const size_t count = bytes / kolo::dataTypeSize(type);
  for (auto _ : state) {
    kernels->scaleBuffer(type, buf.data(), count, 1.0);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes * 2));
}

void sumOfFourBench(benchmark::State& state, const ReduceVariant* kernels, DataType type, bool once,
                    size_t bytes) {
  std::vector<std::vector<char>> in;
  for (int q = 0; q < 4; ++q) in.push_back(patternBuffer(bytes, type));
  auto dst = patternBuffer(bytes, type);
  const void* ptrs[] = {in[0].data(), in[1].data(), in[2].data(), in[3].data()};
  const size_t count = bytes / kolo::dataTypeSize(type);
  for (auto _ : state) {
    if (once) {
      kernels->reduceMany(type, ReduceOp::kSum, dst.data(), ptrs, 4, count, 0);
    } else {
      kernels->reduceTwo(type, ReduceOp::kSum, dst.data(), ptrs[0], ptrs[1], count);
      kernels->reduceTwo(type, ReduceOp::kSum, dst.data(), dst.data(), ptrs[2], count);
      kernels->reduceTwo(type, ReduceOp::kSum, dst.data(), dst.data(), ptrs[3], count);
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes * 5));
}

std::string sizeName(size_t bytes) {
  return bytes >= (1u << 20) ? std::to_string(bytes >> 20) + "MiB"
                             : std::to_string(bytes >> 10) + "KiB";
}

}  // namespace

int main(int argc, char** argv) {
  struct Case {
    DataType type;
    ReduceOp op;
  };
  const Case cases[] = {
      {DataType::kFloat32, ReduceOp::kSum},     {DataType::kFloat32, ReduceOp::kMin},
      {DataType::kFloat32, ReduceOp::kProduct}, {DataType::kFloat64, ReduceOp::kSum},
      {DataType::kFloat16, ReduceOp::kSum},     {DataType::kBFloat16, ReduceOp::kSum},
      {DataType::kInt32, ReduceOp::kSum},       {DataType::kInt8, ReduceOp::kSum},
      {DataType::kInt64, ReduceOp::kProduct},   {DataType::kUInt8, ReduceOp::kMax}};
  for (const size_t bytes : kSizes) {
    benchmark::RegisterBenchmark(("memcpy/" + sizeName(bytes)).c_str(), memcpyBench, bytes);
  }
  // Registered benchmarks keep a pointer to their variant: the list lives until main returns.
  const std::vector<ReduceVariant> variants = kolo::supportedReduceVariants();
  for (const ReduceVariant& variant : variants) {
    const ReduceVariant* k = &variant;
    for (const Case& c : cases) {
      for (const size_t bytes : kSizes) {
        const std::string name = std::string(k->name) + "/" +
                                 std::string(kolo::dataTypeName(c.type)) + "/" +
                                 std::string(kolo::reduceOpName(c.op)) + "/" + sizeName(bytes);
        benchmark::RegisterBenchmark(name.c_str(), reduceBench, k, c.type, c.op, bytes);
      }
    }
    for (const DataType type : {DataType::kFloat16, DataType::kBFloat16}) {
      for (const bool once : {false, true}) {
        for (const size_t bytes : {size_t{32} << 10, size_t{1} << 20}) {
          const std::string name = std::string(k->name) + "/" +
                                   std::string(kolo::dataTypeName(type)) + "/sum-of-4/" +
                                   (once ? "once/" : "pairwise/") + sizeName(bytes);
          benchmark::RegisterBenchmark(name.c_str(), sumOfFourBench, k, type, once, bytes);
        }
      }
    }
    for (const DataType type : {DataType::kFloat32, DataType::kFloat16}) {
      const std::string name =
          std::string(k->name) + "/scale/" + std::string(kolo::dataTypeName(type)) + "/1MiB";
      benchmark::RegisterBenchmark(name.c_str(), scaleBench, k, type, size_t{1} << 20);
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
