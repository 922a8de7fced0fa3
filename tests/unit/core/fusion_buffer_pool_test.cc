#include "kolo/core/fusion_buffer_pool.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

namespace kolo::core {
namespace {

TEST(FusionBufferPool, SizeClassesArePowersOfTwo) {
  EXPECT_EQ(FusionBufferPool::sizeClass(0), 64u << 10);
  EXPECT_EQ(FusionBufferPool::sizeClass(1), 64u << 10);
  EXPECT_EQ(FusionBufferPool::sizeClass((64u << 10) + 1), 128u << 10);
  EXPECT_EQ(FusionBufferPool::sizeClass(64u << 20), 64u << 20);
}

TEST(FusionBufferPool, SteadyStateNeverAllocates) {
  FusionBufferPool pool;
  std::set<std::byte*> seen;
  for (int step = 0; step < 50; ++step) {
    // Two batches in flight at once, sizes varying within their classes.
    auto a = pool.acquire(-1, 300'000 + static_cast<size_t>(step));
    auto b = pool.acquire(-1, 40'000);
    ASSERT_TRUE(a.hasValue() && b.hasValue());
    EXPECT_EQ(a->capacity(), 512u << 10);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a->data()) % FusionBufferPool::kHostAlignment, 0u);
    a->data()[a->capacity() - 1] = std::byte{1};  // the whole class is usable
    seen.insert(a->data());
    seen.insert(b->data());
  }
  EXPECT_EQ(pool.allocationCount(), 2u);
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(pool.idleBuffers(), 2u);
}

TEST(FusionBufferPool, LeasesMoveAndReturnOnce) {
  FusionBufferPool pool;
  auto first = pool.acquire(-1, 10);
  ASSERT_TRUE(first.hasValue());
  FusionBuffer moved = std::move(*first);
  EXPECT_FALSE(*first);
  EXPECT_EQ(pool.idleBuffers(), 0u);
  moved.release();
  moved.release();
  EXPECT_EQ(pool.idleBuffers(), 1u);
  auto again = pool.acquire(-1, 10);
  ASSERT_TRUE(again.hasValue());
  EXPECT_EQ(pool.allocationCount(), 1u);
}

TEST(FusionBufferPool, DevicesHaveSeparateBuffersAndFailuresNameThem) {
  int deviceAllocations = 0;
  int deviceFrees = 0;
  FusionBufferPool pool(FusionBufferPool::Allocator{[&](int32_t device, size_t bytes) -> void* {
                                                      if (device == 3) return nullptr;
                                                      ++deviceAllocations;
                                                      return std::malloc(bytes);
                                                    },
                                                    [&](int32_t, void* data) {
                                                      ++deviceFrees;
                                                      std::free(data);
                                                    }});
  {
    auto gpu0 = pool.acquire(0, 1000);
    auto gpu1 = pool.acquire(1, 1000);
    ASSERT_TRUE(gpu0.hasValue() && gpu1.hasValue());
    EXPECT_NE(gpu0->data(), gpu1->data());
    EXPECT_EQ(gpu1->device(), 1);
  }
  { auto again = pool.acquire(1, 2000); }
  EXPECT_EQ(deviceAllocations, 2);
  auto failed = pool.acquire(3, 100);
  ASSERT_FALSE(failed.hasValue());
  EXPECT_EQ(failed.status().toString(),
            "kUnavailable: fusion buffer pool: could not allocate 65536 bytes (size class of 100 "
            "bytes) on device 3");
  EXPECT_EQ(pool.allocationCount(), 2u);
  pool.trim();
  EXPECT_EQ(deviceFrees, 2);
  EXPECT_EQ(pool.idleBuffers(), 0u);
}

TEST(FusionBufferPool, HostPoolRefusesDeviceMemory) {
  FusionBufferPool pool;
  auto gpu = pool.acquire(0, 10);
  ASSERT_FALSE(gpu.hasValue());
  EXPECT_EQ(gpu.status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace kolo::core
