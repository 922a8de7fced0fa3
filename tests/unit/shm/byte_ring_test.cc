// ByteRing: the producer's cached view of the consumer's position, and the writer-waiting flag
// that decides whether a read must wake the producer.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "transport/shm/byte_ring.h"

namespace kolo::shm {
namespace {

constexpr size_t kCapacity = 4096;

struct Ring {
  RingHeader header;
  std::vector<std::byte> data = std::vector<std::byte>(kCapacity);
  ByteRing producer{&header, data.data(), kCapacity};
  ByteRing consumer{&header, data.data(), kCapacity};
};

TEST(ByteRing, AReadWakesTheProducerOnlyWhenItWaitsForSpace) {
  Ring r;
  std::array<std::byte, 1024> chunk{};
  r.producer.write(chunk.data(), chunk.size());
  r.producer.publishWrite();
  ASSERT_EQ(r.consumer.readable(), chunk.size());
  r.consumer.read(nullptr, chunk.size());
  EXPECT_FALSE(r.consumer.publishReadAndCheckWriter()) << "nobody waits: no wake";

  // Fill the ring; the producer then finds no space and raises the flag.
  for (size_t left = r.producer.writable(); left > 0; left = r.producer.writable()) {
    r.producer.write(chunk.data(), std::min(left, chunk.size()));
  }
  r.producer.publishWrite();
  EXPECT_EQ(r.producer.markWaitingForSpace(), 0u);
  r.consumer.read(nullptr, 100);
  EXPECT_TRUE(r.consumer.publishReadAndCheckWriter()) << "the producer waits: wake it";
  EXPECT_FALSE(r.consumer.publishReadAndCheckWriter()) << "one wake per wait";
  EXPECT_EQ(r.producer.markWaitingForSpace(), 100u) << "the freed space is seen at once";
}

TEST(ByteRing, TheProducerLooksAtTheConsumerOnlyWhenItsKnownSpaceRunsLow) {
  Ring r;
  std::array<std::byte, 1024> chunk{};
  r.producer.write(chunk.data(), chunk.size());
  r.producer.publishWrite();
  r.consumer.read(nullptr, chunk.size());
  r.consumer.publishRead();
  // 3 KiB known free (over a quarter): the cached view stands, the read is not seen yet.
  EXPECT_EQ(r.producer.writable(), kCapacity - chunk.size());
  r.producer.write(chunk.data(), 1000);
  r.producer.write(chunk.data(), 1000);
  r.producer.write(chunk.data(), 1000);
  // 72 bytes known free: below a quarter, so the producer looks and finds the 1 KiB read.
  EXPECT_EQ(r.producer.writable(), kCapacity - 3000);
}

}  // namespace
}  // namespace kolo::shm
