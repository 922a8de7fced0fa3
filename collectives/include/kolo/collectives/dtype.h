// Element types and reduction operators understood by the collectives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kolo {

enum class DataType : uint8_t {
  kFloat16 = 0,
  kBFloat16 = 1,
  kFloat32 = 2,
  kFloat64 = 3,
  kInt8 = 4,
  kUInt8 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kInt16 = 8,
};
inline constexpr DataType kAllDataTypes[] = {DataType::kFloat16, DataType::kBFloat16,
                                             DataType::kFloat32, DataType::kFloat64,
                                             DataType::kInt8,    DataType::kUInt8,
                                             DataType::kInt32,   DataType::kInt64,
                                             DataType::kInt16};

// Average is a sum followed by a division by the number of contributors
// (integer types: truncating division, as C++ `/` does). Adasum is not elementwise: it combines
// whole vectors (allreduce only, floating-point types, power-of-two worlds; see
// collectives/src/algorithms/adasum.cc).
enum class ReduceOp : uint8_t {
  kSum = 0,
  kAverage = 1,
  kMin = 2,
  kMax = 3,
  kProduct = 4,
  kAdasum = 5
};
// The elementwise ops, the ones every reduction kernel and collective implements.
inline constexpr ReduceOp kAllReduceOps[] = {ReduceOp::kSum, ReduceOp::kAverage, ReduceOp::kMin,
                                             ReduceOp::kMax, ReduceOp::kProduct};
// How many ReduceOp values exist (the elementwise ones and kAdasum).
inline constexpr int kReduceOpCount = static_cast<int>(ReduceOp::kAdasum) + 1;

constexpr size_t dataTypeSize(DataType t) {
  switch (t) {
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kInt16: return 2;
    case DataType::kFloat32:
    case DataType::kInt32: return 4;
    case DataType::kFloat64:
    case DataType::kInt64: return 8;
    case DataType::kInt8:
    case DataType::kUInt8: return 1;
  }
  return 0;
}

constexpr bool isFloatingPoint(DataType t) {
  return t == DataType::kFloat16 || t == DataType::kBFloat16 || t == DataType::kFloat32 ||
         t == DataType::kFloat64;
}

// Names as nccl-tests and NumPy spell them: "float32", "bfloat16", "int8", ...
std::string_view dataTypeName(DataType t);
std::optional<DataType> parseDataType(std::string_view name);  // also accepts "half", "float", "double", "int", "long", "short"
std::string_view reduceOpName(ReduceOp op);                     // "sum", "avg", "min", "max", "prod", "adasum"
std::optional<ReduceOp> parseReduceOp(std::string_view name);   // also "average", "product"

}  // namespace kolo
