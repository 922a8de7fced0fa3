// TcpOptions: the TCP transport's settings (KOLO_TCP_*), read once per world.
// Thread: any (plain values).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kolo/collectives/world.h"

namespace kolo {

// Told when a peer's byte stream turned out corrupt (a payload failed its CRC32C, or a frame
// header is garbage): the peer's rank in this transport, its address, and the decoder's error.
// connectTcpTransport sets it to publish the verdict naming that peer as the job's failure.
using CorruptStreamReporter =
    std::function<void(int peer, const std::string& endpoint, const std::string& why)>;

struct TcpOptions {
  // How long an accepted connection may take to send its hello before it is dropped.
  double handshakeTimeoutSeconds = 5.0;
  // SO_SNDBUF / SO_RCVBUF per socket; 0 keeps the kernel's autotuning. Setting them pins the
  // buffers at the kernel cap (2 x net.core.rmem_max, 8 MiB on the dev host) and turns
  // autotuning off, while autotuning grows them up to net.ipv4.tcp_rmem's maximum (32 MiB
  // there); 64 MiB messages over loopback were faster with autotuning, hence the default.
  int socketBufferBytes = 0;
  // KOLO_TCP_CHECKSUM=crc32c: every data frame's payload is checked against the CRC32C in its
  // trailer. Both ends of a connection must agree (their hellos say it).
  bool checksum = true;
  // KOLO_TCP_CHUNK: what ring steps and chain broadcasts cut large transfers into over TCP.
  // Every chunk costs each end a wakeup (the io thread's read, the waiter's completion); at
  // shared memory's 256 KiB those wakeups, not the copies, bounded loopback and emulated-link
  // throughput (docs/PERFORMANCE.md, "Across hosts"), so TCP's default is larger.
  size_t chunkBytes = size_t{1} << 20;
  // KOLO_TCP_STREAMS: connections per peer pair (1 to tcp::kMaxStreams; every rank must agree,
  // their hellos say it). Frames of at least stripeMinBytes are cut into `streams` contiguous
  // stripes, one per connection, written and read concurrently; smaller ones use the first.
  int streams = 1;
  // KOLO_TCP_STRIPE_MIN: the smallest message striped over the streams.
  size_t stripeMinBytes = size_t{256} << 10;
  // Not settings: filled in by connectTcpTransport from the world's abort token and, for a
  // subgroup, its members' ranks in the job (spec.globalRanks; messages name those).
  CorruptStreamReporter reportCorruptStream;
  std::vector<int> worldRanks;
};

// KOLO_TCP_HANDSHAKE_TIMEOUT (seconds), KOLO_TCP_SOCKET_BUFFER ("4M", bytes) and
// KOLO_TCP_CHECKSUM over the defaults above; malformed values keep the default.
TcpOptions tcpOptionsFromEnv();

// A corrupt stream from a peer is that peer's failure as far as the job is concerned: this
// reporter publishes the verdict, naming the peer's world rank (spec.globalRanks), to kolorun's
// store through spec.options.abort, so every rank reports the same failed rank. Empty without
// an abort token; without kolorun nobody publishes, and only this rank's ops fail.
CorruptStreamReporter corruptStreamPublisher(const WorldSpec& spec);

}  // namespace kolo
