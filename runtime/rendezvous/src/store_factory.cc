#include "kolo/rendezvous/store_factory.h"

#include "kolo/base/settings.h"
#include "kolo/protocol/env_contract.h"
#include "kolo/protocol/store_wire.h"
#include "kolo/rendezvous/file_store.h"
#include "kolo/rendezvous/tcp_store.h"

namespace kolo {

Expected<std::unique_ptr<KvStore>> openStore(const std::string& url) {
  const std::string_view file = protocol::kStoreSchemeFile;
  const std::string_view tcp = protocol::kStoreSchemeTcp;
  if (url.rfind(file, 0) == 0) {
    KOLO_ASSIGN_OR_RETURN(auto store, FileStore::open(url.substr(file.size())));
    return std::unique_ptr<KvStore>(std::move(store));
  }
  if (url.rfind(tcp, 0) == 0) {
    KOLO_ASSIGN_OR_RETURN(auto hostPort, parseHostPort(std::string_view(url).substr(tcp.size())));
    auto secretText = settingText(protocol::kEnvSecret);
    if (!secretText) {
      return makeStatus(Code::kInvalidArgument,
                        "store '{}' needs {} (kolorun sets it for every rank)", url,
                        protocol::kEnvSecret);
    }
    KOLO_ASSIGN_OR_RETURN(std::string secret, protocol::decodeSecret(*secretText));
    const int64_t rank = settingIntIfSet(protocol::kEnvRank).value_or(-1);
    const double startTimeout = settingSeconds(protocol::kEnvStartTimeout);
    KOLO_ASSIGN_OR_RETURN(
        auto store, TcpStore::connect(hostPort.first, hostPort.second, std::move(secret),
                                      rank < 0 ? protocol::kNoRank : static_cast<uint32_t>(rank),
                                      Deadline::afterSeconds(startTimeout)));
    return std::unique_ptr<KvStore>(std::move(store));
  }
  return makeStatus(Code::kInvalidArgument,
                    "store URL '{}' is not understood (expected file:/path or tcp:host:port)", url);
}

}  // namespace kolo
