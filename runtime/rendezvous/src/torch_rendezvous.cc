#include "kolo/rendezvous/torch_rendezvous.h"

#include <charconv>

#include "kolo/base/env.h"
#include "kolo/base/logging.h"
#include "kolo/protocol/store_wire.h"
#include "kolo/rendezvous/rank_zero_store.h"

namespace kolo {
namespace {

Expected<int> parseInt(const std::string& name, const std::string& text, int low, int high) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < low || value > high) {
    return makeStatus(Code::kInvalidArgument, "{}={} is not a number from {} to {}", name, text,
                      low, high);
  }
  return value;
}

}  // namespace

Expected<std::optional<TorchLaunch>> torchLaunchFromEnv() {
  auto rank = getEnv("RANK");
  auto size = getEnv("WORLD_SIZE");
  auto addr = getEnv("MASTER_ADDR");
  auto port = getEnv("MASTER_PORT");
  if (!rank || !size || !addr || !port) return std::optional<TorchLaunch>();
  TorchLaunch launch;
  KOLO_ASSIGN_OR_RETURN(launch.size, parseInt("WORLD_SIZE", *size, 1, 1 << 24));
  KOLO_ASSIGN_OR_RETURN(launch.rank, parseInt("RANK", *rank, 0, launch.size - 1));
  // Kolo's store listens one port above MASTER_PORT.
  KOLO_ASSIGN_OR_RETURN(launch.masterPort, parseInt("MASTER_PORT", *port, 1, 65534));
  launch.masterAddr = *addr;
  launch.runId = getEnv("TORCHELASTIC_RUN_ID").value_or("");
  return std::optional<TorchLaunch>(std::move(launch));
}

Expected<TorchStore> openTorchStore(const TorchLaunch& launch, const std::string& exported,
                                    double timeoutSeconds) {
  TorchStore out;
  const std::string where = fmt::format("{}-{}", launch.masterAddr, launch.masterPort);
  out.jobId =
      launch.runId.empty() ? "torch-" + where : fmt::format("torch-{}-{}", where, launch.runId);
  out.authenticated = !exported.empty();
  out.secret =
      out.authenticated ? exported : protocol::hmacSha256("kolo-torch-unauthenticated", out.jobId);
  if (!out.authenticated && launch.rank == 0) {
    KOLO_LOG(kWarning, "rendezvous",
             "KOLO_SECRET is not set: the rendezvous on {}:{} is not authenticated against "
             "anyone who can reach it (docs/SECURITY.md)",
             launch.masterAddr, launch.masterPort + 1);
  }
  RankZeroStoreSpec spec;
  KOLO_ASSIGN_OR_RETURN(spec.address, resolveIpv4(launch.masterAddr,
                                                  "MASTER_ADDR (rank 0 hosts the rendezvous "
                                                  "there)"));
  spec.port = launch.masterPort + 1;
  spec.secret = out.secret;
  spec.rank = launch.rank;
  spec.size = launch.size;
  spec.timeoutSeconds = timeoutSeconds;
  spec.what = fmt::format("the torchrun-style job at MASTER_ADDR={} (Kolo uses MASTER_PORT+1={})",
                          launch.masterAddr, launch.masterPort + 1);
  KOLO_ASSIGN_OR_RETURN(out.store, openRankZeroStore(spec));
  return out;
}

}  // namespace kolo
