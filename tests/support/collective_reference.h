// Deterministic inputs and reference results for collective tests, shared by the threaded unit
// tests and the multi-process tests (no transport here: only dtype/reduce scalar semantics).
// Inputs are small integers chosen so every partial result is exact in every data type, which
// makes the reduction order irrelevant: an algorithm's output must equal the reference bit for
// bit. Sums of up to 8 ranks stay within int8 and within the exact integers of bf16 (256);
// products use 2 at most once per element (every other factor is 1 or -1).
// Thread: any; pure functions.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "kolo/collectives/dtype.h"
#include "kolo/collectives/reduce.h"

namespace kolo::test {

inline uint64_t mixBits(uint64_t seed, uint64_t a, uint64_t b) {
  // splitmix64 finalizer over the combined key.
  uint64_t z = seed ^ (a * 0x9E3779B97F4A7C15ull) ^ (b + 0xBF58476D1CE4E5B9ull + (a << 17));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Element i of `rank`'s input, as an exact value.
inline double inputValue(DataType type, ReduceOp op, int rank, int worldSize, size_t i,
                         uint64_t seed) {
  const uint64_t h = mixBits(seed, static_cast<uint64_t>(rank), i);
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAverage:
    case ReduceOp::kAdasum:  // not elementwise: tests/unit/algorithms/adasum_test.cc
      if (type == DataType::kUInt8) return static_cast<double>(h % 16);
      return static_cast<double>(static_cast<int>(h % 17) - 8);
    case ReduceOp::kMin:
    case ReduceOp::kMax:
      if (type == DataType::kUInt8) return static_cast<double>(h % 256);
      if (type == DataType::kInt8) return static_cast<double>(static_cast<int>(h % 256) - 128);
      if (type == DataType::kInt16) {
        return static_cast<double>(static_cast<int>(h % 65536) - 32768);
      }
      return static_cast<double>(static_cast<int>(h % 201) - 100);
    case ReduceOp::kProduct: {
      // Only the rank owning index i (i mod worldSize) may contribute a 2.
      if (static_cast<int>(i % static_cast<size_t>(worldSize)) == rank && h % 3 == 0) return 2.0;
      if (type != DataType::kUInt8 && h % 5 == 0) return -1.0;
      return 1.0;
    }
  }
  return 0.0;
}

inline void storeValue(DataType type, double v, void* out, size_t i) {
  switch (type) {
    case DataType::kFloat16:
      static_cast<uint16_t*>(out)[i] = floatToHalf(static_cast<float>(v));
      break;
    case DataType::kBFloat16:
      static_cast<uint16_t*>(out)[i] = floatToBfloat16(static_cast<float>(v));
      break;
    case DataType::kFloat32:
      static_cast<float*>(out)[i] = static_cast<float>(v);
      break;
    case DataType::kFloat64:
      static_cast<double*>(out)[i] = v;
      break;
    case DataType::kInt8:
      static_cast<int8_t*>(out)[i] = static_cast<int8_t>(static_cast<int64_t>(v));
      break;
    case DataType::kUInt8:
      static_cast<uint8_t*>(out)[i] = static_cast<uint8_t>(static_cast<int64_t>(v));
      break;
    case DataType::kInt32:
      static_cast<int32_t*>(out)[i] = static_cast<int32_t>(static_cast<int64_t>(v));
      break;
    case DataType::kInt16:
      static_cast<int16_t*>(out)[i] = static_cast<int16_t>(static_cast<int64_t>(v));
      break;
    case DataType::kInt64:
      static_cast<int64_t*>(out)[i] = static_cast<int64_t>(v);
      break;
  }
}

inline double loadValue(DataType type, const void* in, size_t i) {
  switch (type) {
    case DataType::kFloat16:
      return halfToFloat(static_cast<const uint16_t*>(in)[i]);
    case DataType::kBFloat16:
      return bfloat16ToFloat(static_cast<const uint16_t*>(in)[i]);
    case DataType::kFloat32:
      return static_cast<const float*>(in)[i];
    case DataType::kFloat64:
      return static_cast<const double*>(in)[i];
    case DataType::kInt8:
      return static_cast<const int8_t*>(in)[i];
    case DataType::kUInt8:
      return static_cast<const uint8_t*>(in)[i];
    case DataType::kInt32:
      return static_cast<const int32_t*>(in)[i];
    case DataType::kInt16:
      return static_cast<const int16_t*>(in)[i];
    case DataType::kInt64:
      return static_cast<double>(static_cast<const int64_t*>(in)[i]);
  }
  return 0.0;
}

// `rank`'s input of `count` elements.
inline void fillInput(DataType type, ReduceOp op, int rank, int worldSize, size_t count,
                      uint64_t seed, void* out) {
  for (size_t i = 0; i < count; ++i) {
    storeValue(type, inputValue(type, op, rank, worldSize, i, seed), out, i);
  }
}

inline std::vector<std::byte> makeInput(DataType type, ReduceOp op, int rank, int worldSize,
                                        size_t count, uint64_t seed) {
  std::vector<std::byte> v(count * dataTypeSize(type));
  fillInput(type, op, rank, worldSize, count, seed, v.data());
  return v;
}

// a OP b with the scalar semantics of reduce.h: floats combined in double and rounded to the
// type (the same result as the kernels' float arithmetic for + and *, since double carries more
// than twice the digits), integers wrapping in their width (kept exact by the inputs above).
inline double combineScalar(DataType type, ReduceOp op, double a, double b) {
  double r = 0;
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAverage:
      r = a + b;
      break;
    case ReduceOp::kProduct:
      r = a * b;
      break;
    case ReduceOp::kMin:
      r = b < a ? b : a;
      break;
    case ReduceOp::kMax:
      r = a < b ? b : a;
      break;
    case ReduceOp::kAdasum:
      break;  // not elementwise
  }
  std::byte tmp[8];
  storeValue(type, r, tmp, 0);
  return loadValue(type, tmp, 0);
}

// The allreduce result of fillInput() inputs of every rank, reduced in rank order; kAverage
// divides with divideBuffer(), exactly as the algorithms do.
// referenceAllreduceRange: elements [first, first + count) of that result, into out[0, count).
inline void referenceAllreduceRange(DataType type, ReduceOp op, int worldSize, size_t first,
                                    size_t count, uint64_t seed, void* out) {
  for (size_t k = 0; k < count; ++k) {
    const size_t i = first + k;
    double acc = inputValue(type, op, 0, worldSize, i, seed);
    for (int r = 1; r < worldSize; ++r) {
      acc = combineScalar(type, op, acc, inputValue(type, op, r, worldSize, i, seed));
    }
    storeValue(type, acc, out, k);
  }
  if (op == ReduceOp::kAverage) divideBuffer(type, out, count, worldSize);
}

inline void referenceAllreduce(DataType type, ReduceOp op, int worldSize, size_t count,
                               uint64_t seed, void* out) {
  referenceAllreduceRange(type, op, worldSize, 0, count, seed, out);
}

// Block `rank` of the reduce-scatter of fillInput(..., sum(counts), ...) inputs.
inline void referenceReduceScatter(DataType type, ReduceOp op, int worldSize,
                                   std::span<const size_t> counts, int rank, uint64_t seed,
                                   void* out) {
  size_t offset = 0;
  for (int p = 0; p < rank; ++p) offset += counts[static_cast<size_t>(p)];
  referenceAllreduceRange(type, op, worldSize, offset, counts[rank], seed, out);
}

// Byte patterns for data-movement collectives, distinct per (source, destination, position).
inline void fillBlock(int from, int to, size_t bytes, uint64_t seed, void* out) {
  auto* p = static_cast<uint8_t*>(out);
  for (size_t i = 0; i < bytes; ++i) {
    p[i] = static_cast<uint8_t>(mixBits(seed, static_cast<uint64_t>(from) * 1000003u + to, i));
  }
}
inline void fillBytes(int rank, size_t bytes, uint64_t seed, void* out) {
  fillBlock(rank, -1, bytes, seed, out);
}

inline void referenceAllgatherv(std::span<const size_t> bytesPerRank, uint64_t seed, void* out) {
  auto* p = static_cast<std::byte*>(out);
  for (size_t r = 0; r < bytesPerRank.size(); ++r) {
    fillBytes(static_cast<int>(r), bytesPerRank[r], seed, p);
    p += bytesPerRank[r];
  }
}

// What `rank` sends in an alltoallv: block p = fillBlock(rank, p, sendBytes[p]).
inline void fillAlltoallInput(int rank, std::span<const size_t> sendBytes, uint64_t seed,
                              void* out) {
  auto* p = static_cast<std::byte*>(out);
  for (size_t to = 0; to < sendBytes.size(); ++to) {
    fillBlock(rank, static_cast<int>(to), sendBytes[to], seed, p);
    p += sendBytes[to];
  }
}
// What `rank` receives: block p = fillBlock(p, rank, recvBytes[p]).
inline void referenceAlltoallv(int rank, std::span<const size_t> recvBytes, uint64_t seed,
                               void* out) {
  auto* p = static_cast<std::byte*>(out);
  for (size_t from = 0; from < recvBytes.size(); ++from) {
    fillBlock(static_cast<int>(from), rank, recvBytes[from], seed, p);
    p += recvBytes[from];
  }
}

inline std::string formatValue(DataType type, const void* data, size_t i) {
  double v = loadValue(type, data, i);
  size_t esize = dataTypeSize(type);
  uint64_t bits = 0;
  std::memcpy(&bits, static_cast<const std::byte*>(data) + i * esize, esize);
  return fmt::format("{} (bits {:#x})", v, bits);
}

// Empty when the buffers are bit-identical; otherwise names the first differing element and
// both values.
inline std::string compareExact(DataType type, const void* expected, const void* actual,
                                size_t count) {
  const size_t esize = dataTypeSize(type);
  if (count == 0 || std::memcmp(expected, actual, count * esize) == 0) return {};
  const auto* e = static_cast<const std::byte*>(expected);
  const auto* a = static_cast<const std::byte*>(actual);
  for (size_t i = 0; i < count; ++i) {
    if (std::memcmp(e + i * esize, a + i * esize, esize) != 0) {
      return fmt::format("{} differs first at index {} of {}: expected {}, got {}",
                         dataTypeName(type), i, count, formatValue(type, expected, i),
                         formatValue(type, actual, i));
    }
  }
  return {};
}

inline std::string compareBytes(const void* expected, const void* actual, size_t bytes) {
  return compareExact(DataType::kUInt8, expected, actual, bytes);
}

}  // namespace kolo::test
