#include "kolo/core/fusion_buffer_pool.h"

#include <bit>
#include <cstdlib>

namespace kolo::core {
namespace {

FusionBufferPool::Allocator hostAllocator() {
  return {
      [](int32_t device, size_t bytes) -> void* {
        if (device != -1) return nullptr;
        return std::aligned_alloc(FusionBufferPool::kHostAlignment, bytes);
      },
      [](int32_t, void* data) { std::free(data); },
  };
}

}  // namespace

FusionBuffer& FusionBuffer::operator=(FusionBuffer&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::exchange(other.pool_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    device_ = other.device_;
  }
  return *this;
}

void FusionBuffer::release() {
  if (pool_ && data_) pool_->giveBack(device_, data_, capacity_);
  pool_ = nullptr;
  data_ = nullptr;
  capacity_ = 0;
}

FusionBufferPool::FusionBufferPool() : FusionBufferPool(hostAllocator()) {}

FusionBufferPool::FusionBufferPool(Allocator allocator) : allocator_(std::move(allocator)) {}

FusionBufferPool::~FusionBufferPool() {
  trim();
}

size_t FusionBufferPool::sizeClass(size_t bytes) {
  return std::bit_ceil(std::max(bytes, kMinSizeClass));
}

Expected<FusionBuffer> FusionBufferPool::acquire(int32_t device, size_t bytes) {
  const size_t capacity = sizeClass(bytes);
  {
    std::lock_guard lock(mutex_);
    auto it = idle_.find({device, capacity});
    if (it != idle_.end() && !it->second.empty()) {
      std::byte* data = it->second.back();
      it->second.pop_back();
      return FusionBuffer(this, device, data, capacity);
    }
    ++allocations_;
  }
  // Allocating outside the lock: a large first-touch allocation must not stall a release.
  auto* data = static_cast<std::byte*>(allocator_.allocate(device, capacity));
  if (!data) {
    std::lock_guard lock(mutex_);
    --allocations_;
    return makeStatus(Code::kUnavailable,
                      "fusion buffer pool: could not allocate {} bytes (size class of {} bytes) "
                      "on device {}",
                      capacity, bytes, device);
  }
  return FusionBuffer(this, device, data, capacity);
}

void FusionBufferPool::giveBack(int32_t device, std::byte* data, size_t capacity) {
  std::lock_guard lock(mutex_);
  idle_[{device, capacity}].push_back(data);
}

size_t FusionBufferPool::allocationCount() const {
  std::lock_guard lock(mutex_);
  return allocations_;
}

size_t FusionBufferPool::idleBuffers() const {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& [key, buffers] : idle_) n += buffers.size();
  return n;
}

void FusionBufferPool::trim() {
  std::map<std::pair<int32_t, size_t>, std::vector<std::byte*>> idle;
  {
    std::lock_guard lock(mutex_);
    idle.swap(idle_);
  }
  for (auto& [key, buffers] : idle) {
    for (std::byte* data : buffers) allocator_.free(key.first, data);
  }
}

}  // namespace kolo::core
