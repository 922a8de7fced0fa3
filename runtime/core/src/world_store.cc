#include "world_store.h"

#include <array>
#include <algorithm>
#include <cstring>

#include "kolo/base/host_address.h"
#include "kolo/collectives/collectives.h"
#include "kolo/rendezvous/rank_zero_store.h"

namespace kolo::core {
namespace {

constexpr size_t kMessageBytes = 256;  // the announcement, NUL-padded

Expected<std::string> rankZeroAddress(const Communicator& world) {
  const HostLayout* layout = world.hostLayout();
  if (!layout || layout->crossSize <= 1) return std::string("127.0.0.1");
  const std::string host = hostName();
  if (host.empty()) return Status(Code::kIoError, "gethostname failed");
  return resolveIpv4(host, "rank 0's host, for the job's store");
}

}  // namespace

Expected<std::unique_ptr<KvStore>> openStoreOverWorld(Communicator& world) {
  RankZeroStoreSpec spec;
  spec.rank = world.rank();
  spec.size = world.size();
  spec.what = "the job started by mpirun";
  if (world.rank() == 0) {
    auto address = rankZeroAddress(world);
    // A rank 0 without an address still takes part in the broadcast (with nothing).
    spec.address = address ? address.value() : std::string("127.0.0.1");
  }
  return openAnnouncedRankZeroStore(
      spec, [&world](const std::string& announcement) -> Expected<std::string> {
        std::array<char, kMessageBytes> message{};
        std::memcpy(message.data(), announcement.data(),
                    std::min(announcement.size(), message.size() - 1));
        KOLO_RETURN_IF_ERROR(coll::broadcast(world, message.data(), message.size(), 0));
        return std::string(message.data());
      });
}

}  // namespace kolo::core
