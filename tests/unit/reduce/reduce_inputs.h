// Random inputs for the reduce kernel tests: every bit pattern is possible for 16-bit floats;
// f32/f64 mix ordinary values with NaN, +-inf, +-0, subnormals and extremes; integers include
// the wraparound edges.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kolo/collectives/dtype.h"

namespace kolo::testing {

template <class T>
T specialValue(std::mt19937_64& rng) {
  using L = std::numeric_limits<T>;
  if constexpr (std::is_floating_point_v<T>) {
    const T specials[] = {L::quiet_NaN(),
                          -L::quiet_NaN(),
                          L::signaling_NaN(),
                          L::infinity(),
                          -L::infinity(),
                          T(0),
                          -T(0),
                          L::denorm_min(),
                          -L::denorm_min(),
                          L::min() / 2,
                          L::max(),
                          L::lowest(),
                          L::min(),
                          T(1),
                          T(-1)};
    return specials[rng() % std::size(specials)];
  } else {
    const T specials[] = {L::min(),        L::max(),          T(0), T(1), T(L::min() + 1),
                          T(L::max() - 1), static_cast<T>(-1)};
    return specials[rng() % std::size(specials)];
  }
}

template <class T>
T ordinaryValue(std::mt19937_64& rng) {
  if constexpr (std::is_floating_point_v<T>) {
    std::uniform_real_distribution<T> dist(-100, 100);
    return dist(rng);
  } else {
    T v;
    const uint64_t bits = rng();
    std::memcpy(&v, &bits, sizeof(T));
    return v;
  }
}

template <class T>
void fillTyped(void* out, size_t count, std::mt19937_64& rng) {
  for (size_t i = 0; i < count; ++i) {
    const T v = rng() % 8 == 0 ? specialValue<T>(rng) : ordinaryValue<T>(rng);
    std::memcpy(static_cast<char*>(out) + i * sizeof(T), &v, sizeof(T));
  }
}

inline void fillRandom(DataType type, void* out, size_t count, std::mt19937_64& rng) {
  switch (type) {
    case DataType::kFloat16:
    case DataType::kBFloat16:
      for (size_t i = 0; i < count; ++i) {
        // Bias towards moderate exponents so sums and products stay finite often, but keep every
        // pattern (NaN, inf, subnormal) reachable.
        uint16_t bits = static_cast<uint16_t>(rng());
        if (rng() % 4 != 0) {
          const uint16_t oneExponent = type == DataType::kFloat16 ? 0x3c00 : 0x3f80;
          const uint16_t mantissaMask = type == DataType::kFloat16 ? 0x03ff : 0x007f;
          bits = static_cast<uint16_t>((bits & (0x8000 | mantissaMask)) | oneExponent);
          if (rng() % 2 != 0) bits = static_cast<uint16_t>(bits + (rng() % 8) * (mantissaMask + 1));
        }
        std::memcpy(static_cast<char*>(out) + i * 2, &bits, 2);
      }
      return;
    case DataType::kFloat32:
      return fillTyped<float>(out, count, rng);
    case DataType::kFloat64:
      return fillTyped<double>(out, count, rng);
    case DataType::kInt8:
      return fillTyped<int8_t>(out, count, rng);
    case DataType::kUInt8:
      return fillTyped<uint8_t>(out, count, rng);
    case DataType::kInt32:
      return fillTyped<int32_t>(out, count, rng);
    case DataType::kInt64:
      return fillTyped<int64_t>(out, count, rng);
    case DataType::kInt16:
      return fillTyped<int16_t>(out, count, rng);
  }
}

// A byte buffer whose data() is deliberately one element past a 64-byte boundary, so kernels
// see unaligned pointers.
class UnalignedBuffer {
 public:
  UnalignedBuffer(DataType type, size_t count)
      : elementSize_(dataTypeSize(type)), storage_((count + 1) * elementSize_ + 128) {
    const auto base = reinterpret_cast<uintptr_t>(storage_.data());
    offset_ = ((64 - base % 64) % 64) + elementSize_;
  }
  char* data() { return storage_.data() + offset_; }
  const char* data() const { return storage_.data() + offset_; }

 private:
  size_t elementSize_;
  std::vector<char> storage_;
  size_t offset_ = 0;
};

}  // namespace kolo::testing
