// connectTcpTransport: builds a TcpTransport for one rank of a world.
// Every rank listens on spec.bindAddress (127.0.0.1 when empty), port 0, and publishes
// "addr:port" in the store under "kolo/<jobId>/tcp/<rank>". For each pair the higher rank
// connects to the lower and both exchange a hello (tcp_handshake.h). A connection whose hello
// is garbage, names another job, an unexpected or already connected rank, or that stays silent
// for handshakeTimeoutSeconds is closed and logged, and the rank keeps waiting for the real
// peer, so a stranger on the port cannot break or hang a job.
// Thread: caller's (the handshakes run on the caller's thread; the io thread starts once every
// peer is connected).
#pragma once

#include <memory>

#include "kolo/base/kv_store.h"
#include "kolo/base/status.h"
#include "kolo/collectives/transport.h"
#include "kolo/collectives/world.h"
#include "transport/tcp/tcp_options.h"

namespace kolo {

// Returns once every peer is connected, or kTimeout naming the ranks still missing after
// spec.connectTimeoutSeconds. This overload takes its options from tcpOptionsFromEnv().
Expected<std::shared_ptr<Transport>> connectTcpTransport(KvStore& store, const WorldSpec& spec);
Expected<std::shared_ptr<Transport>> connectTcpTransport(KvStore& store, const WorldSpec& spec,
                                                         const TcpOptions& given);

// The store key under which `rank` publishes its listening address.
std::string tcpAddressKey(const std::string& jobId, int rank);

}  // namespace kolo
