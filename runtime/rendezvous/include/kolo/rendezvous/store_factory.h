// Opens the store named by a URL: "file:/dir", or "tcp:host:port" (kolorun's authenticated
// server; the secret comes from KOLO_SECRET, the rank from KOLO_RANK, the connect deadline from
// KOLO_START_TIMEOUT, default 30 s).
#pragma once

#include <memory>
#include <string>

#include "kolo/base/kv_store.h"

namespace kolo {

Expected<std::unique_ptr<KvStore>> openStore(const std::string& url);

}  // namespace kolo
