// Internal: the loops behind widenToFloat32 / narrowFromFloat32 / reduceMany (reduce.h), shared by
// every kernel variant like reduce_loops.h (include it after that header; it uses the variant's
// widenBlock, narrowBlock and floatReduce hooks).
//
// 16-bit floats with kSum / kAverage accumulate in float32: input 0 is widened into an f32
// accumulator (a register in the vector variants, a chunk of scratch in the portable one), inputs
// 1..n-1 are widened and added in that order, the accumulator is divided (kAverage) and then
// rounded to the 16-bit type once. Every step is one IEEE f32 operation, so the variants agree
// bit for bit. Other types and ops combine pairwise in the input order.
// Thread: any.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kolo/collectives/dtype.h"
#include "kolo/collectives/reduce.h"
#include "reduce/reduce_loops.h"

namespace kolo::reduce_detail {
namespace {

// kAverage of types reduced pairwise: the block reduced and then divided while it is in L1.
constexpr size_t kDivideBlockBytes = 8192;

template <class Codec>
void widenTo(const void* in, float* out, size_t n) {
  const auto* src = static_cast<const uint16_t*>(in);
  for (size_t done = 0; done < n; done += kHalfChunk) {
    widenBlock<Codec>(out + done, src + done, n - done < kHalfChunk ? n - done : kHalfChunk);
  }
}

template <class Codec>
void narrowTo(const float* in, void* out, size_t n) {
  auto* dst = static_cast<uint16_t*>(out);
  for (size_t done = 0; done < n; done += kHalfChunk) {
    narrowBlock<Codec>(dst + done, in + done, n - done < kHalfChunk ? n - done : kHalfChunk);
  }
}

void widenImpl(DataType type, const void* in, float* out, size_t n) {
  if (type == DataType::kFloat16) return widenTo<Float16Codec>(in, out, n);
  if (type == DataType::kBFloat16) return widenTo<BFloat16Codec>(in, out, n);
}

void narrowImpl(DataType type, const float* in, void* out, size_t n) {
  if (type == DataType::kFloat16) return narrowTo<Float16Codec>(in, out, n);
  if (type == DataType::kBFloat16) return narrowTo<BFloat16Codec>(in, out, n);
}

// Portable form: chunks of f32 scratch. dst may equal inputs[0]: each chunk reads every input
// before it writes dst.
template <class Codec>
void accumulateHalfChunked(void* dstRaw, const void* const* inputs, int nInputs, size_t n,
                           int64_t divisor) {
  auto* dst = static_cast<uint16_t*>(dstRaw);
  alignas(64) float acc[kHalfChunk];
  alignas(64) float next[kHalfChunk];
  const float d = static_cast<float>(divisor);
  for (size_t done = 0; done < n;) {
    const size_t len = n - done < kHalfChunk ? n - done : kHalfChunk;
    widenBlock<Codec>(acc, static_cast<const uint16_t*>(inputs[0]) + done, len);
    for (int q = 1; q < nInputs; ++q) {
      widenBlock<Codec>(next, static_cast<const uint16_t*>(inputs[q]) + done, len);
      floatReduce<float, SumOp>(acc, acc, next, len);
    }
    if (divisor != 0) {
      for (size_t i = 0; i < len; ++i) acc[i] /= d;
    }
    narrowBlock<Codec>(dst + done, acc, len);
    done += len;
  }
}

// Vector form: one register of each input at a time, no scratch (H and V as for fusedHalfLoop;
// V also has div and splat). The scalar tail does the same operations in the same order.
template <class H, class V, class Codec>
void fusedAccumulateHalf(void* dstRaw, const void* const* inputs, int nInputs, size_t n,
                         int64_t divisor) {
  auto* dst = static_cast<uint16_t*>(dstRaw);
  auto input = [inputs](int q) { return static_cast<const uint16_t*>(inputs[q]); };
  const float d = static_cast<float>(divisor);
  size_t i = 0;
  for (; i + 2 * H::kLanes <= n; i += 2 * H::kLanes) {  // two registers hide the add latency
    auto acc0 = H::widen(Codec{}, input(0) + i);
    auto acc1 = H::widen(Codec{}, input(0) + i + H::kLanes);
    for (int q = 1; q < nInputs; ++q) {
      const uint16_t* in = input(q);
      acc0 = V::add(acc0, H::widen(Codec{}, in + i));
      acc1 = V::add(acc1, H::widen(Codec{}, in + i + H::kLanes));
    }
    if (divisor != 0) {
      acc0 = V::div(acc0, V::splat(d));
      acc1 = V::div(acc1, V::splat(d));
    }
    H::narrow(Codec{}, dst + i, acc0);
    H::narrow(Codec{}, dst + i + H::kLanes, acc1);
  }
  for (; i + H::kLanes <= n; i += H::kLanes) {
    auto acc = H::widen(Codec{}, input(0) + i);
    for (int q = 1; q < nInputs; ++q) acc = V::add(acc, H::widen(Codec{}, input(q) + i));
    if (divisor != 0) acc = V::div(acc, V::splat(d));
    H::narrow(Codec{}, dst + i, acc);
  }
  for (; i < n; ++i) {
    float acc = Codec::widen(input(0)[i]);
    for (int q = 1; q < nInputs; ++q) acc = orderedAdd(acc, Codec::widen(input(q)[i]));
    if (divisor != 0) acc /= d;
    dst[i] = Codec::narrow(acc);
  }
}

// Hook each variant defines: accumulateHalfChunked or fusedAccumulateHalf.
template <class Codec>
void accumulateHalf(void* dst, const void* const* inputs, int nInputs, size_t n, int64_t divisor);

void reduceManyImpl(DataType type, ReduceOp op, void* dst, const void* const* inputs, int nInputs,
                    size_t n, int64_t divisor) {
  if (nInputs <= 0 || n == 0) return;
  if (accumulatesInFloat32(type, op)) {
    // Two inputs and no division: the pairwise kernel computes exactly narrow(a + b) already.
    if (nInputs == 2 && divisor == 0) return reduceTwoImpl(type, op, dst, inputs[0], inputs[1], n);
    if (type == DataType::kFloat16) {
      return accumulateHalf<Float16Codec>(dst, inputs, nInputs, n, divisor);
    }
    return accumulateHalf<BFloat16Codec>(dst, inputs, nInputs, n, divisor);
  }
  const size_t esize = dataTypeSize(type);
  if (nInputs == 1) {
    if (dst != inputs[0]) __builtin_memmove(dst, inputs[0], n * esize);
    if (divisor != 0) divideImpl(type, dst, n, divisor);
    return;
  }
  // kAverage divides a block at a time while it is still in L1 (the same operations in the same
  // order as dividing the whole result afterwards, so the same bits, without a second pass).
  const size_t block = divisor != 0 ? kDivideBlockBytes / esize : n;
  auto at = [esize](const void* p, size_t i) {
    return static_cast<const std::byte*>(p) + i * esize;
  };
  for (size_t done = 0; done < n; done += block) {
    const size_t len = n - done < block ? n - done : block;
    void* out = static_cast<std::byte*>(dst) + done * esize;
    reduceTwoImpl(type, op, out, at(inputs[0], done), at(inputs[1], done), len);
    for (int q = 2; q < nInputs; ++q) reduceTwoImpl(type, op, out, out, at(inputs[q], done), len);
    if (divisor != 0) divideImpl(type, out, len, divisor);
  }
}

}  // namespace
}  // namespace kolo::reduce_detail
