// Per-job values kolorun draws before spawning: the job id, a port for MASTER_PORT and the local
// host name. (The store secret comes from store_server.h.)
//
// Thread: the launcher's main thread.
#pragma once

#include <string>

#include "kolo/base/status.h"

namespace kolo::launcher {

// 32 hex digits from the kernel's random source: unique across concurrent jobs on a host.
Expected<std::string> makeJobId();

// A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close). Another
// process may take it before rank 0 binds; torchrun accepts the same race.
Expected<int> pickFreePort();

std::string localHostname();

}  // namespace kolo::launcher
