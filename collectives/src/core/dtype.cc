#include "kolo/collectives/dtype.h"

#include <string>

#include "kolo/base/env.h"

namespace kolo {

std::string_view dataTypeName(DataType t) {
  switch (t) {
    case DataType::kFloat16: return "float16";
    case DataType::kBFloat16: return "bfloat16";
    case DataType::kFloat32: return "float32";
    case DataType::kFloat64: return "float64";
    case DataType::kInt8: return "int8";
    case DataType::kUInt8: return "uint8";
    case DataType::kInt32: return "int32";
    case DataType::kInt64: return "int64";
    case DataType::kInt16: return "int16";
  }
  return "unknown";
}

std::optional<DataType> parseDataType(std::string_view name) {
  std::string n = toLower(name);
  for (DataType t : kAllDataTypes) {
    if (n == dataTypeName(t)) return t;
  }
  if (n == "half" || n == "f16" || n == "fp16") return DataType::kFloat16;
  if (n == "bf16") return DataType::kBFloat16;
  if (n == "float" || n == "f32" || n == "fp32") return DataType::kFloat32;
  if (n == "double" || n == "f64" || n == "fp64") return DataType::kFloat64;
  if (n == "int" || n == "i32") return DataType::kInt32;
  if (n == "long" || n == "i64") return DataType::kInt64;
  if (n == "char" || n == "i8") return DataType::kInt8;
  if (n == "short" || n == "i16") return DataType::kInt16;
  if (n == "u8" || n == "byte") return DataType::kUInt8;
  return std::nullopt;
}

std::string_view reduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAverage: return "avg";
    case ReduceOp::kMin: return "min";
    case ReduceOp::kMax: return "max";
    case ReduceOp::kProduct: return "prod";
    case ReduceOp::kAdasum: return "adasum";
  }
  return "unknown";
}

std::optional<ReduceOp> parseReduceOp(std::string_view name) {
  std::string n = toLower(name);
  for (ReduceOp op : kAllReduceOps) {
    if (n == reduceOpName(op)) return op;
  }
  if (n == "average" || n == "mean") return ReduceOp::kAverage;
  if (n == "product") return ReduceOp::kProduct;
  return std::nullopt;
}

}  // namespace kolo
