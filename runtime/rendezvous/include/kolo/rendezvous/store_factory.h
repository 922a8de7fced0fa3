// Opens the store named by a URL ("file:/dir"; "tcp:host:port" arrives with the launcher store).
#pragma once

#include <memory>
#include <string>

#include "kolo/base/kv_store.h"

namespace kolo {

Expected<std::unique_ptr<KvStore>> openStore(const std::string& url);

}  // namespace kolo
