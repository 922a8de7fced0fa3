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

namespace kolo {

struct TcpOptions {
  // How long an accepted connection may take to send its hello before it is dropped.
  double handshakeTimeoutSeconds = 5.0;
  // SO_SNDBUF / SO_RCVBUF per socket; 0 keeps the kernel's autotuning. Setting them pins the
  // buffers at the kernel cap (2 x net.core.rmem_max, 8 MiB on the dev host) and turns
  // autotuning off, while autotuning grows them up to net.ipv4.tcp_rmem's maximum (32 MiB
  // there); 64 MiB messages over loopback were faster with autotuning, hence the default.
  int socketBufferBytes = 0;
};

// KOLO_TCP_HANDSHAKE_TIMEOUT (seconds) and KOLO_TCP_SOCKET_BUFFER ("4M", bytes) over the
// defaults above; malformed values keep the default.
TcpOptions tcpOptionsFromEnv();

// Returns once every peer is connected, or kTimeout naming the ranks still missing after
// spec.connectTimeoutSeconds. This overload takes its options from tcpOptionsFromEnv().
Expected<std::shared_ptr<Transport>> connectTcpTransport(KvStore& store, const WorldSpec& spec);
Expected<std::shared_ptr<Transport>> connectTcpTransport(KvStore& store, const WorldSpec& spec,
                                                         const TcpOptions& options);

// The store key under which `rank` publishes its listening address.
std::string tcpAddressKey(const std::string& jobId, int rank);

}  // namespace kolo
