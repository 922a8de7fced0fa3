#include "bench_ops.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kolo/collectives/reduce.h"

namespace kolo::bench {
namespace {

// Written over outputs before a checked call. Outside every pattern's range for the float
// types and for small worlds, so a call that writes nothing shows up as wrong elements.
constexpr std::byte kPoison{0xA5};
constexpr size_t kAlignment = 64;

// Integers: the low bits of the two's complement value, as wrapping kernels produce them.
int64_t wrapToType(DataType type, int64_t value) {
  switch (type) {
    case DataType::kInt8:
      return static_cast<int8_t>(static_cast<uint8_t>(value & 0xFF));
    case DataType::kUInt8:
      return static_cast<uint8_t>(value & 0xFF);
    case DataType::kInt16:
      return static_cast<int16_t>(static_cast<uint16_t>(value & 0xFFFF));
    case DataType::kInt32:
      return static_cast<int32_t>(static_cast<uint32_t>(value & 0xFFFFFFFF));
    default:
      return value;
  }
}

}  // namespace

struct CollectiveBench::Buffer {
  explicit Buffer(size_t bytes) : size(bytes) {
    if (bytes > SIZE_MAX - kAlignment) return;  // left null: create() reports it
    size_t rounded =
        std::max<size_t>((bytes + kAlignment - 1) / kAlignment * kAlignment, kAlignment);
    data = static_cast<std::byte*>(std::aligned_alloc(kAlignment, rounded));
    // Touch every page now, so no timed call pays the first-touch page faults.
    if (data != nullptr) std::memset(data, 0, rounded);
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  std::byte* data = nullptr;
  size_t size = 0;
};

int64_t reduceInput(ReduceOp op, int rank, int worldSize, size_t index) {
  const auto r = static_cast<size_t>(rank);
  switch (op) {
    case ReduceOp::kSum:
      return static_cast<int64_t>((index * 7 + r * 3) % 4);
    case ReduceOp::kAverage: {
      // Around a(i) in 1..3: even ranks add 1, odd ranks subtract 1, and with an odd world
      // the last rank adds nothing, so the sum is exactly n * a(i).
      const int64_t base = 1 + static_cast<int64_t>(index % 3);
      if (worldSize % 2 == 1 && rank == worldSize - 1) return base;
      return rank % 2 == 0 ? base + 1 : base - 1;
    }
    case ReduceOp::kMin:
    case ReduceOp::kMax:
      return static_cast<int64_t>((index * 5 + r * 3) % 7);
    case ReduceOp::kProduct:
      if ((index + r) % 4 == 0) return 2;
      return (index * 3 + r) % 5 == 0 ? -1 : 1;
    case ReduceOp::kAdasum:
      break;  // not benchmarked: --op parses only the elementwise ops
  }
  return 0;
}

void storeElement(DataType type, void* base, size_t index, int64_t value) {
  auto* bytes = static_cast<std::byte*>(base);
  auto put = [&](auto element) {
    std::memcpy(bytes + index * sizeof(element), &element, sizeof(element));
  };
  switch (type) {
    case DataType::kFloat16:
      put(floatToHalf(static_cast<float>(value)));
      break;
    case DataType::kBFloat16:
      put(floatToBfloat16(static_cast<float>(value)));
      break;
    case DataType::kFloat32:
      put(static_cast<float>(value));
      break;
    case DataType::kFloat64:
      put(static_cast<double>(value));
      break;
    case DataType::kInt8:
      put(static_cast<int8_t>(wrapToType(type, value)));
      break;
    case DataType::kUInt8:
      put(static_cast<uint8_t>(wrapToType(type, value)));
      break;
    case DataType::kInt32:
      put(static_cast<int32_t>(wrapToType(type, value)));
      break;
    case DataType::kInt64:
      put(value);
      break;
    case DataType::kInt16:
      put(static_cast<int16_t>(wrapToType(type, value)));
      break;
  }
}

void expectedReduction(DataType type, ReduceOp op, int worldSize, size_t index, std::byte* out) {
  // Sums and products in unsigned arithmetic: wrapping is the integer kernels' semantics and
  // keeps the reference free of signed overflow.
  uint64_t sum = 0;
  uint64_t product = 1;
  int64_t low = reduceInput(op, 0, worldSize, index);
  int64_t high = low;
  for (int r = 0; r < worldSize; ++r) {
    int64_t v = reduceInput(op, r, worldSize, index);
    sum += static_cast<uint64_t>(v);
    product *= static_cast<uint64_t>(v);
    low = std::min(low, v);
    high = std::max(high, v);
  }
  int64_t result = 0;
  switch (op) {
    case ReduceOp::kSum:
      result = static_cast<int64_t>(sum);
      break;
    case ReduceOp::kAverage:
      // Floats: the sum is n * a(i) by construction, so the quotient is exact. Integers:
      // truncating division of the wrapped sum, as the kernels do.
      result = isFloatingPoint(type) ? static_cast<int64_t>(sum) / worldSize
                                     : wrapToType(type, static_cast<int64_t>(sum)) / worldSize;
      break;
    case ReduceOp::kMin:
      result = low;
      break;
    case ReduceOp::kMax:
      result = high;
      break;
    case ReduceOp::kProduct:
      result = static_cast<int64_t>(product);
      break;
    case ReduceOp::kAdasum:
      break;  // not benchmarked
  }
  storeElement(type, out, 0, result);
}

int64_t allgatherValue(int rank, size_t index) {
  return static_cast<int64_t>((static_cast<size_t>(rank) * 31 + index * 7) % 101);
}

int64_t alltoallValue(int source, int destination, size_t index) {
  return static_cast<int64_t>(
      (static_cast<size_t>(source) * 17 + static_cast<size_t>(destination) * 5 + index * 3) % 97);
}

int64_t broadcastValue(int root, size_t index) {
  return static_cast<int64_t>((index * 13 + static_cast<size_t>(root) * 7) % 101);
}

CollectiveBench::CollectiveBench(OpConfig config)
    : config_(config), elementSize_(dataTypeSize(config.type)) {}

Expected<std::unique_ptr<CollectiveBench>> CollectiveBench::create(OpConfig config,
                                                                   uint64_t maxBytes) {
  const auto full = static_cast<size_t>(maxBytes);
  const size_t block = full / static_cast<size_t>(std::max(config.worldSize, 1));
  // The receive buffer is always full size: the in-place forms keep the whole input there.
  size_t sendBytes = full;
  size_t recvBytes = full;
  switch (config.collective) {
    case Collective::kAllgather:
      sendBytes = block;
      break;
    case Collective::kBroadcast:
      sendBytes = 0;
      break;
    default:
      break;
  }
  std::unique_ptr<CollectiveBench> bench(new CollectiveBench(config));
  bench->send_ = std::make_unique<Buffer>(sendBytes);
  bench->recv_ = std::make_unique<Buffer>(recvBytes);
  if (bench->send_->data == nullptr || bench->recv_->data == nullptr) {
    return makeStatus(Code::kUnavailable,
                      "cannot allocate {} B of send and {} B of receive buffer for {} up to {} B",
                      sendBytes, recvBytes, collectiveName(config.collective), maxBytes);
  }
  return bench;
}

CollectiveBench::~CollectiveBench() = default;

size_t CollectiveBench::blockCount(const SizeShape& shape) const {
  return shape.count / static_cast<size_t>(std::max(config_.worldSize, 1));
}

void CollectiveBench::prepare(const SizeShape& shape) {
  const int rank = config_.rank;
  const size_t block = blockCount(shape);
  // In place, the inputs live where the outputs go (see OpConfig::inPlace).
  std::byte* input = inPlace() ? recv_->data : send_->data;
  switch (config_.collective) {
    case Collective::kAllreduce:
    case Collective::kReduceScatter:
      for (size_t i = 0; i < shape.count; ++i) {
        storeElement(config_.type, input, i, reduceInput(config_.op, rank, config_.worldSize, i));
      }
      if (inPlace()) return;
      break;
    case Collective::kAllgather:
      if (inPlace()) {
        std::memset(recv_->data, static_cast<int>(kPoison), shape.bytes);
        input = recv_->data + static_cast<size_t>(rank) * block * elementSize_;
      }
      for (size_t i = 0; i < block; ++i) {
        storeElement(config_.type, input, i, allgatherValue(rank, i));
      }
      if (inPlace()) return;
      break;
    case Collective::kAlltoall:
      for (int peer = 0; peer < config_.worldSize; ++peer) {
        for (size_t j = 0; j < block; ++j) {
          storeElement(config_.type, input, static_cast<size_t>(peer) * block + j,
                       alltoallValue(rank, peer, j));
        }
      }
      if (inPlace()) return;
      break;
    case Collective::kBroadcast:
      if (rank == config_.root) {
        for (size_t i = 0; i < shape.count; ++i) {
          storeElement(config_.type, recv_->data, i, broadcastValue(config_.root, i));
        }
      }
      break;
  }
  poisonOutputs(shape);
}

void CollectiveBench::poisonOutputs(const SizeShape& shape) {
  if (inPlace() && config_.collective != Collective::kBroadcast) {
    prepare(shape);
    return;
  }
  if (config_.collective == Collective::kBroadcast) {
    if (config_.rank != config_.root)
      std::memset(recv_->data, static_cast<int>(kPoison), shape.bytes);
    return;
  }
  size_t bytes = config_.collective == Collective::kReduceScatter
                     ? blockCount(shape) * elementSize_
                     : static_cast<size_t>(shape.bytes);
  std::memset(recv_->data, static_cast<int>(kPoison), bytes);
}

Status CollectiveBench::run(Communicator& comm, const SizeShape& shape) {
  const size_t blockBytes = blockCount(shape) * elementSize_;
  const void* send = inPlace() ? recv_->data : send_->data;
  switch (config_.collective) {
    case Collective::kAllreduce:
      return coll::allreduce(comm, send, recv_->data, shape.count, config_.type, config_.op,
                             config_.algorithm);
    case Collective::kAllgather:
      if (inPlace()) send = recv_->data + static_cast<size_t>(config_.rank) * blockBytes;
      return coll::allgather(comm, send, recv_->data, blockBytes, config_.algorithm);
    case Collective::kBroadcast:
      return coll::broadcast(comm, recv_->data, static_cast<size_t>(shape.bytes), config_.root,
                             config_.algorithm);
    case Collective::kReduceScatter: {
      std::vector<size_t> counts(static_cast<size_t>(config_.worldSize), blockCount(shape));
      return coll::reduceScatter(comm, send, recv_->data, counts, config_.type, config_.op,
                                 config_.algorithm);
    }
    case Collective::kAlltoall:
      return coll::alltoall(comm, send, recv_->data, blockBytes, config_.algorithm);
  }
  return makeStatus(Code::kInternal, "unknown collective");
}

const void* CollectiveBench::allreduceInput() const {
  return inPlace() ? recv_->data : send_->data;
}

void* CollectiveBench::allreduceOutput() const {
  return recv_->data;
}

uint64_t CollectiveBench::countWrong(const SizeShape& shape) const {
  const int rank = config_.rank;
  const DataType type = config_.type;
  const size_t block = blockCount(shape);
  std::byte expected[8];
  uint64_t wrong = 0;
  auto compare = [&](size_t index) {
    if (std::memcmp(recv_->data + index * elementSize_, expected, elementSize_) != 0) ++wrong;
  };
  switch (config_.collective) {
    case Collective::kAllreduce:
      for (size_t i = 0; i < shape.count; ++i) {
        expectedReduction(type, config_.op, config_.worldSize, i, expected);
        compare(i);
      }
      break;
    case Collective::kReduceScatter:
      for (size_t j = 0; j < block; ++j) {
        expectedReduction(type, config_.op, config_.worldSize,
                          static_cast<size_t>(rank) * block + j, expected);
        compare(j);
      }
      break;
    case Collective::kAllgather:
      for (int source = 0; source < config_.worldSize; ++source) {
        for (size_t j = 0; j < block; ++j) {
          storeElement(type, expected, 0, allgatherValue(source, j));
          compare(static_cast<size_t>(source) * block + j);
        }
      }
      break;
    case Collective::kAlltoall:
      for (int source = 0; source < config_.worldSize; ++source) {
        for (size_t j = 0; j < block; ++j) {
          storeElement(type, expected, 0, alltoallValue(source, rank, j));
          compare(static_cast<size_t>(source) * block + j);
        }
      }
      break;
    case Collective::kBroadcast:
      for (size_t i = 0; i < shape.count; ++i) {
        storeElement(type, expected, 0, broadcastValue(config_.root, i));
        compare(i);
      }
      break;
  }
  return wrong;
}

void CollectiveBench::prepareFixedPoint(const SizeShape& shape) {
  const bool sameOnEveryRank = config_.op == ReduceOp::kMin || config_.op == ReduceOp::kMax;
  for (size_t i = 0; i < shape.count; ++i) {
    storeElement(config_.type, recv_->data, i,
                 sameOnEveryRank ? reduceInput(config_.op, 0, config_.worldSize, i) : 0);
  }
}

MpiCall CollectiveBench::prepareMpi(const SizeShape& shape) {
  const bool wasInPlace = config_.inPlace;
  config_.inPlace = false;
  prepare(shape);
  config_.inPlace = wasInPlace;
  MpiCall call{config_.collective, config_.type, config_.op, config_.root,
               shape.count,        send_->data,  recv_->data};
  if (config_.collective == Collective::kAllreduce) prepareFixedPoint(shape);
  return call;
}

}  // namespace kolo::bench
