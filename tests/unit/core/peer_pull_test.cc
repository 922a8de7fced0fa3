// Single-copy point-to-point (runtime/core/src/peer_pull.h): the kernel read itself, and the
// PeerTransfer protocol over a loopback world, whose ranks are threads of this process (so a
// pull from "the peer" reads this process's memory, as process_vm_readv allows).
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <numeric>
#include <vector>

#include "kolo/collectives/communicator.h"
#include "peer_pull.h"
#include "peer_transfer.h"
#include "transport/loopback/loopback_transport.h"

namespace kolo::core {
namespace {

TEST(PeerPull, ReadsAnotherBufferExactlyAndReportsABadAddress) {
  ASSERT_TRUE(peerPullEnabled()) << "KOLO_SHM_SINGLE_COPY is auto by default";
  std::vector<uint32_t> source(300'000);
  std::iota(source.begin(), source.end(), 7u);
  std::vector<uint32_t> target(source.size(), 0);
  ASSERT_TRUE(pullFromPeer(static_cast<int32_t>(::getpid()),
                           reinterpret_cast<uintptr_t>(source.data()),
                           std::as_writable_bytes(std::span(target))));
  EXPECT_EQ(target, source);
  std::vector<std::byte> small(64);
  EXPECT_FALSE(pullFromPeer(static_cast<int32_t>(::getpid()), 16, small))
      << "an unmapped address fails the pull";
  EXPECT_TRUE(peerPullEnabled()) << "a bad address is not the kernel refusing: pulls stay on";
}

struct Pair {
  std::vector<std::unique_ptr<Communicator>> comms;
  Pair() {
    for (std::shared_ptr<Transport>& t : makeLoopbackWorld(2)) {
      comms.push_back(std::make_unique<Communicator>(t, nullptr, CommunicatorOptions{}));
    }
  }
  // Runs a send from rank 0 and a receive on rank 1 to the end, advancing both in turn.
  void run(PeerTransfer& send, PeerTransfer& recv) {
    send.start(*comms[0]);
    recv.start(*comms[1]);
    for (int round = 0; round < 100'000 && !(send.done() && recv.done()); ++round) {
      send.advance(*comms[0]);
      recv.advance(*comms[1]);
    }
    ASSERT_TRUE(send.done() && recv.done()) << "the transfers did not finish";
  }
};

std::unique_ptr<PeerTransfer> transfer(bool isSend, std::vector<float>& data,
                                       std::shared_ptr<OpState> state) {
  return std::make_unique<PeerTransfer>(isSend, isSend ? 1 : 0, isSend ? 0 : 1, 9,
                                        DataType::kFloat32, static_cast<int64_t>(data.size()),
                                        data.data(), std::move(state), Deadline::never());
}

TEST(PeerPull, ARendezvousReceiveReadsTheSendersBufferAndAnEagerOneDoesNot) {
  for (size_t count : {size_t{1} << 18, kPeerEagerBytes / sizeof(float)}) {
    Pair pair;
    std::vector<float> sent(count);
    std::iota(sent.begin(), sent.end(), 1.0f);
    std::vector<float> got(count, -1.0f);
    auto sendState = std::make_shared<OpState>();
    auto recvState = std::make_shared<OpState>();
    auto send = transfer(true, sent, sendState);
    auto recv = transfer(false, got, recvState);
    pair.run(*send, *recv);
    EXPECT_TRUE(sendState->status().isOk()) << sendState->status().toString();
    EXPECT_TRUE(recvState->status().isOk()) << recvState->status().toString();
    EXPECT_EQ(got, sent) << count << " elements";
    EXPECT_EQ(recv->pulled(), count * sizeof(float) > kPeerEagerBytes) << count << " elements";
  }
}

TEST(PeerPull, AMismatchedRendezvousIsNamedOnBothSidesAndNothingIsRead) {
  Pair pair;
  std::vector<float> sent(1 << 18, 3.0f);
  std::vector<float> got((1 << 18) + 1, -1.0f);
  auto sendState = std::make_shared<OpState>();
  auto recvState = std::make_shared<OpState>();
  auto send = transfer(true, sent, sendState);
  auto recv = transfer(false, got, recvState);
  pair.run(*send, *recv);
  EXPECT_EQ(sendState->status().code(), Code::kMismatch) << sendState->status().toString();
  EXPECT_NE(sendState->status().message().find("sent 262144 float32 elements, rank 1 expected "
                                               "262145 float32 elements"),
            std::string::npos)
      << sendState->status().toString();
  EXPECT_EQ(recvState->status().code(), Code::kMismatch) << recvState->status().toString();
  EXPECT_FALSE(recv->pulled());
  EXPECT_EQ(got, std::vector<float>((1 << 18) + 1, -1.0f)) << "a rejected payload is not read";
}

}  // namespace
}  // namespace kolo::core
