// connectWorld across simulated hosts, ranks as threads over one in-memory store: the world is
// TCP, and every rank gets its node subgroup (shm, with the arena when the host has several
// ranks) and cross subgroup (TCP), on which the hierarchical algorithms then run with the arena
// as their node phase. Uneven, interleaved hosts (2+1+2) and a job on one host (no subgroups).
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kolo/collectives/algorithm_registry.h"
#include "kolo/collectives/collectives.h"
#include "kolo/collectives/world.h"
#include "kolo/rendezvous/memory_store.h"
#include "support/collective_reference.h"
#include "support/threaded_world.h"

namespace kolo {
namespace {

// Runs `body` on one thread per rank after connectWorld with rank r on host hostKeys[r].
std::vector<Status> runConnectedWorld(const std::vector<std::string>& hostKeys,
                                      const std::string& jobId,
                                      const std::function<Status(Communicator&)>& body) {
  const int n = static_cast<int>(hostKeys.size());
  MemoryStore store;
  return test::runRankThreads(
      n,
      [&](int r) {
        WorldSpec spec;
        spec.rank = r;
        spec.size = n;
        spec.jobId = jobId;
        spec.hostKey = hostKeys[static_cast<size_t>(r)];
        spec.connectTimeoutSeconds = 30;
        spec.options.timeoutSeconds = 30;
        auto comm = connectWorld(store, spec);
        return comm ? body(**comm) : comm.status();
      },
      120.0, "connected world");
}

TEST(WorldSubgroups, UnevenInterleavedHostsGetNodeAndCrossGroups) {
  const std::vector<std::string> hosts = {"a", "b", "a", "c", "c"};
  const int n = static_cast<int>(hosts.size());
  auto results = runConnectedWorld(hosts, "subgroups-uneven", [&](Communicator& comm) -> Status {
    const HostLayout* layout = comm.hostLayout();
    Communicator* node = comm.subgroup(Subgroup::kNode);
    Communicator* cross = comm.subgroup(Subgroup::kCross);
    if (layout == nullptr || node == nullptr || cross == nullptr) {
      return Status(Code::kInternal, "no subgroups on a world spanning hosts");
    }
    if (std::string(comm.transport().name()) != "tcp" || node->size() != layout->localSize ||
        node->rank() != layout->localRank || cross->size() != layout->crossSize ||
        cross->rank() != layout->crossRank || (node->size() > 1) != (node->arena() != nullptr)) {
      return makeStatus(Code::kInternal,
                        "rank {}: world over {}, node {}/{} (arena {}), cross {}/{}", comm.rank(),
                        comm.transport().name(), node->rank(), node->size(),
                        node->arena() != nullptr, cross->rank(), cross->size());
    }
    for (size_t count : {size_t{0}, size_t{7}, size_t{100003}}) {
      for (ReduceOp op : kAllReduceOps) {
        const DataType type = DataType::kFloat32;
        auto data = test::makeInput(type, op, comm.rank(), n, count, count + 1);
        std::vector<std::byte> want(data.size());
        test::referenceAllreduce(type, op, n, count, count + 1, want.data());
        KOLO_RETURN_IF_ERROR(
            coll::allreduce(comm, data.data(), data.data(), count, type, op, "hier"));
        std::string diff = test::compareExact(type, want.data(), data.data(), count);
        if (!diff.empty()) return makeStatus(Code::kInternal, "allreduce {}: {}", count, diff);
      }
      std::vector<size_t> each(n, count * 3);
      std::vector<std::byte> send(count * 3), recv(count * 3 * n), want(recv.size());
      test::fillBytes(comm.rank(), send.size(), 11, send.data());
      test::referenceAllgatherv(each, 11, want.data());
      KOLO_RETURN_IF_ERROR(coll::allgather(comm, send.data(), recv.data(), send.size()));
      std::string diff = test::compareBytes(want.data(), recv.data(), recv.size());
      if (!diff.empty()) return makeStatus(Code::kInternal, "allgather {}: {}", count, diff);
    }
    return Status::ok();
  });
  EXPECT_EQ(test::describeFailures(results), "");
}

TEST(WorldSubgroups, OneHostHasNone) {
  auto results = runConnectedWorld({"a", "a"}, "subgroups-one-host", [](Communicator& comm) {
    if (comm.subgroup(Subgroup::kNode) != nullptr || comm.hostLayout() != nullptr ||
        comm.arena() == nullptr) {
      return Status(Code::kInternal, "a one-host world must be plain shm with its arena");
    }
    return Status::ok();
  });
  EXPECT_EQ(test::describeFailures(results), "");
}

}  // namespace
}  // namespace kolo
