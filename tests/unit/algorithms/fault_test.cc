// Failure paths: dead peers, silent peers, disagreeing sizes and invalid arguments. Every case
// must end with an error that names the culprit, never with a hang.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "kolo/collectives/collectives.h"
#include "support/threaded_world.h"

namespace kolo::coll {
namespace {

using test::runThreadedWorld;
using test::ThreadedWorldOptions;
using ::testing::HasSubstr;

constexpr int kVictim = 2;

TEST(DeadPeer, EveryOtherRankGetsIoErrorNamingIt) {
  for (int delayMs : {0, 100}) {
    auto faults = std::make_shared<FaultPlan>();
    ThreadedWorldOptions options;
    options.faults = faults;
    options.opTimeoutSeconds = 60.0;  // a timeout would mean the death went unnoticed
    auto results = runThreadedWorld(
        4,
        [&](Communicator& comm) -> Status {
          KOLO_RETURN_IF_ERROR(barrier(comm));
          if (comm.rank() == kVictim) {
            // With a delay the others are already parked in waitAll when the rank dies.
            std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
            faults->kill(kVictim);
            return Status::ok();
          }
          std::vector<std::byte> send(4 * 64), recv(4 * 64);
          return alltoall(comm, send.data(), recv.data(), 64);
        },
        options);
    for (int r = 0; r < 4; ++r) {
      if (r == kVictim) continue;
      EXPECT_EQ(results[r].code(), Code::kIoError) << "rank " << r << ": " << results[r].toString();
      EXPECT_THAT(results[r].message(), HasSubstr("rank 2")) << "rank " << r;
    }
  }
}

TEST(DeadPeer, RingAllreduceFailsEverywhereWithoutHanging) {
  auto faults = std::make_shared<FaultPlan>();
  ThreadedWorldOptions options;
  options.faults = faults;
  options.opTimeoutSeconds = 1.0;
  auto results = runThreadedWorld(
      4,
      [&](Communicator& comm) -> Status {
        if (comm.rank() == kVictim) {
          faults->kill(kVictim);
          return Status::ok();
        }
        std::vector<float> v(1 << 18, 1.0f);
        return allreduce(comm, v.data(), v.data(), v.size(), DataType::kFloat32, ReduceOp::kSum,
                         "ring");
      },
      options);
  // Rank 3 receives from the dead rank: kIoError. The others wait on a neighbour that stopped
  // and fail by the deadline at the latest; each message names the peer it waited for.
  EXPECT_EQ(results[3].code(), Code::kIoError) << results[3].toString();
  EXPECT_THAT(results[3].message(), HasSubstr("connection to rank 2 lost"));
  for (int r : {0, 1}) {
    EXPECT_THAT(results[r].code(), ::testing::AnyOf(Code::kIoError, Code::kTimeout))
        << "rank " << r << ": " << results[r].toString();
    EXPECT_THAT(results[r].message(), HasSubstr("rank ")) << results[r].toString();
  }
}

TEST(SilentPeer, TimesOutNamingThePeer) {
  auto faults = std::make_shared<FaultPlan>();
  faults->dropFrom(kVictim);
  ThreadedWorldOptions options;
  options.faults = faults;
  options.opTimeoutSeconds = 0.5;
  auto results = runThreadedWorld(
      4,
      [&](Communicator& comm) -> Status {
        std::vector<std::byte> send(4 * 32), recv(4 * 32);
        return alltoall(comm, send.data(), recv.data(), 32);
      },
      options);
  EXPECT_TRUE(results[kVictim].isOk()) << results[kVictim].toString();
  for (int r : {0, 1, 3}) {
    EXPECT_EQ(results[r].code(), Code::kTimeout) << "rank " << r << ": " << results[r].toString();
    EXPECT_THAT(results[r].message(), HasSubstr("from rank 2")) << "rank " << r;
  }
}

TEST(SilentPeer, AllreduceNeighbourTimesOutNamingIt) {
  for (std::string_view algorithm : {"ring", "rd"}) {
    auto faults = std::make_shared<FaultPlan>();
    faults->dropFrom(kVictim);
    ThreadedWorldOptions options;
    options.faults = faults;
    options.opTimeoutSeconds = 0.5;
    auto results = runThreadedWorld(
        4,
        [&](Communicator& comm) -> Status {
          std::vector<int32_t> v(1000, 1);
          return allreduce(comm, v.data(), v.data(), v.size(), DataType::kInt32, ReduceOp::kSum,
                           algorithm);
        },
        options);
    // Rank 3 is the ring successor of 2; in recursive doubling rank 3 is its first partner.
    EXPECT_EQ(results[3].code(), Code::kTimeout) << results[3].toString();
    EXPECT_THAT(results[3].message(), HasSubstr("from rank 2"));
  }
}

TEST(SizeDisagreement, AlltoallvReportsMismatchNamingSizes) {
  auto results = runThreadedWorld(
      2,
      [&](Communicator& comm) -> Status {
        // Rank 0 sends 4 B to rank 1, but rank 1 expects 8 B.
        std::vector<size_t> sendBytes =
            comm.rank() == 0 ? std::vector<size_t>{0, 4} : std::vector<size_t>{0, 0};
        std::vector<size_t> recvBytes =
            comm.rank() == 1 ? std::vector<size_t>{8, 0} : std::vector<size_t>{0, 0};
        std::vector<std::byte> send(8), recv(8);
        return alltoallv(comm, send.data(), sendBytes, recv.data(), recvBytes);
      },
      ThreadedWorldOptions{5.0});
  EXPECT_TRUE(results[0].isOk()) << results[0].toString();
  EXPECT_EQ(results[1].code(), Code::kMismatch) << results[1].toString();
  EXPECT_THAT(results[1].message(), HasSubstr("from rank 0"));
  EXPECT_THAT(results[1].message(), HasSubstr("expected 8 B"));
  EXPECT_THAT(results[1].message(), HasSubstr("4 B"));
}

// Runs `call` on a world of 3 and expects kInvalidArgument mentioning `needle` on every rank.
void expectInvalid(const std::function<Status(Communicator&)>& call, const char* needle) {
  auto results = runThreadedWorld(3, call, ThreadedWorldOptions{5.0});
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(results[r].code(), Code::kInvalidArgument) << needle << ": " << results[r].toString();
    EXPECT_THAT(results[r].message(), HasSubstr(needle));
  }
}

TEST(InvalidArguments, AreRejectedNamingTheArgument) {
  std::vector<float> buf(8);
  std::vector<size_t> two{1, 1};
  expectInvalid([&](Communicator& c) { return broadcast(c, buf.data(), 4, -1); }, "root -1");
  expectInvalid([&](Communicator& c) { return broadcast(c, buf.data(), 4, 3); }, "root 3");
  expectInvalid([&](Communicator& c) { return broadcast(c, nullptr, 4, 0); }, "buffer");
  expectInvalid(
      [&](Communicator& c) {
        return allreduce(c, nullptr, buf.data(), 5, DataType::kFloat32, ReduceOp::kSum);
      },
      "send");
  expectInvalid(
      [&](Communicator& c) {
        return allreduce(c, buf.data(), nullptr, 5, DataType::kFloat32, ReduceOp::kSum);
      },
      "recv");
  expectInvalid(
      [&](Communicator& c) {
        return allreduce(c, buf.data(), buf.data(), 5, static_cast<DataType>(42), ReduceOp::kSum);
      },
      "data type");
  expectInvalid(
      [&](Communicator& c) {
        return reduceScatter(c, buf.data(), buf.data(), two, DataType::kFloat32, ReduceOp::kSum);
      },
      "recvCounts has 2 entries");
  expectInvalid([&](Communicator& c) { return allgatherv(c, buf.data(), buf.data(), two); },
                "bytesPerRank has 2 entries");
  expectInvalid([&](Communicator& c) { return allgather(c, nullptr, buf.data(), 4); }, "send");
  expectInvalid(
      [&](Communicator& c) {
        std::vector<size_t> three{4, 4, 4};
        return alltoallv(c, buf.data(), two, buf.data(), three);
      },
      "sendBytes has 2 entries");
  expectInvalid(
      [&](Communicator& c) {
        std::vector<size_t> s{4, 4, 4}, r{0, 0, 0};
        return alltoallv(c, buf.data(), s, buf.data(), r);
      },
      "to itself");
}

TEST(InvalidArguments, NullBuffersWithZeroCountAreFine) {
  auto results = runThreadedWorld(
      3,
      [](Communicator& c) -> Status {
        KOLO_RETURN_IF_ERROR(allreduce(c, nullptr, nullptr, 0, DataType::kFloat32, ReduceOp::kSum));
        KOLO_RETURN_IF_ERROR(broadcast(c, nullptr, 0, 1));
        KOLO_RETURN_IF_ERROR(allgather(c, nullptr, nullptr, 0));
        return alltoall(c, nullptr, nullptr, 0);
      },
      ThreadedWorldOptions{5.0});
  EXPECT_EQ(test::describeFailures(results), "");
}

}  // namespace
}  // namespace kolo::coll
