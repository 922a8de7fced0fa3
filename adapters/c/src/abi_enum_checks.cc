// The C ABI's enums (kolo.h) against the C++ ones they are cast to and from (kolo_c.cc converts
// with static_cast): a value added, removed or renumbered on one side fails the build here.
// Python's copies are checked against kolo.h by tests/python/abi/test_abi_enums.py.
#include <iterator>
#include <type_traits>

#include "kolo.h"
#include "kolo/kolo.hpp"

namespace {

template <typename CEnum, typename CppEnum>
constexpr bool same(CEnum c, CppEnum cpp) {
  return static_cast<long long>(c) ==
         static_cast<long long>(static_cast<std::underlying_type_t<CppEnum>>(cpp));
}

}  // namespace

#define KOLO_ABI_SAME(c, cpp) static_assert(same(c, cpp), #c " differs from " #cpp)

// kolo_status_t <-> kolo::Code
KOLO_ABI_SAME(KOLO_OK, kolo::Code::kOk);
KOLO_ABI_SAME(KOLO_INVALID_ARGUMENT, kolo::Code::kInvalidArgument);
KOLO_ABI_SAME(KOLO_INVALID_USAGE, kolo::Code::kInvalidUsage);
KOLO_ABI_SAME(KOLO_MISMATCH, kolo::Code::kMismatch);
KOLO_ABI_SAME(KOLO_TIMEOUT, kolo::Code::kTimeout);
KOLO_ABI_SAME(KOLO_IO_ERROR, kolo::Code::kIoError);
KOLO_ABI_SAME(KOLO_REMOTE_ERROR, kolo::Code::kRemoteError);
KOLO_ABI_SAME(KOLO_ABORTED, kolo::Code::kAborted);
KOLO_ABI_SAME(KOLO_UNAVAILABLE, kolo::Code::kUnavailable);
KOLO_ABI_SAME(KOLO_INTERNAL, kolo::Code::kInternal);

// kolo_dtype_t <-> kolo::DataType, and no C++ type without a C name.
KOLO_ABI_SAME(KOLO_FLOAT16, kolo::DataType::kFloat16);
KOLO_ABI_SAME(KOLO_BFLOAT16, kolo::DataType::kBFloat16);
KOLO_ABI_SAME(KOLO_FLOAT32, kolo::DataType::kFloat32);
KOLO_ABI_SAME(KOLO_FLOAT64, kolo::DataType::kFloat64);
KOLO_ABI_SAME(KOLO_INT8, kolo::DataType::kInt8);
KOLO_ABI_SAME(KOLO_UINT8, kolo::DataType::kUInt8);
KOLO_ABI_SAME(KOLO_INT32, kolo::DataType::kInt32);
KOLO_ABI_SAME(KOLO_INT64, kolo::DataType::kInt64);
KOLO_ABI_SAME(KOLO_INT16, kolo::DataType::kInt16);
static_assert(std::size(kolo::kAllDataTypes) == KOLO_INT16 + 1,
              "kolo::DataType has a value kolo_dtype_t does not name");

// kolo_reduce_op_t <-> kolo::ReduceOp, and no C++ op without a C name.
KOLO_ABI_SAME(KOLO_SUM, kolo::ReduceOp::kSum);
KOLO_ABI_SAME(KOLO_AVERAGE, kolo::ReduceOp::kAverage);
KOLO_ABI_SAME(KOLO_MIN, kolo::ReduceOp::kMin);
KOLO_ABI_SAME(KOLO_MAX, kolo::ReduceOp::kMax);
KOLO_ABI_SAME(KOLO_PRODUCT, kolo::ReduceOp::kProduct);
KOLO_ABI_SAME(KOLO_ADASUM, kolo::ReduceOp::kAdasum);
static_assert(kolo::kReduceOpCount == KOLO_ADASUM + 1,
              "kolo::ReduceOp has a value kolo_reduce_op_t does not name");

#undef KOLO_ABI_SAME
