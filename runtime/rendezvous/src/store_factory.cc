#include "kolo/rendezvous/store_factory.h"

#include "kolo/protocol/env_contract.h"
#include "kolo/rendezvous/file_store.h"

namespace kolo {

Expected<std::unique_ptr<KvStore>> openStore(const std::string& url) {
  const std::string_view file = protocol::kStoreSchemeFile;
  if (url.rfind(file, 0) == 0) {
    KOLO_ASSIGN_OR_RETURN(auto store, FileStore::open(url.substr(file.size())));
    return std::unique_ptr<KvStore>(std::move(store));
  }
  return makeStatus(Code::kInvalidArgument,
                    "store URL '{}' is not understood (expected file:/path)", url);
}

}  // namespace kolo
