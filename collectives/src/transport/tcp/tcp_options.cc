#include "transport/tcp/tcp_options.h"

#include <fmt/format.h>

#include <cstdint>

#include "kolo/base/abort_token.h"
#include "kolo/base/logging.h"
#include "kolo/base/settings.h"

namespace kolo {

TcpOptions tcpOptionsFromEnv() {
  TcpOptions options;
  options.handshakeTimeoutSeconds = settingSeconds("KOLO_TCP_HANDSHAKE_TIMEOUT");
  options.checksum = settingChoice("KOLO_TCP_CHECKSUM") != "none";
  if (const uint64_t chunk = settingBytes("KOLO_TCP_CHUNK"); chunk >= 4096 && chunk <= (1u << 30)) {
    options.chunkBytes = static_cast<size_t>(chunk);
  } else {
    KOLO_LOG(kWarning, "tcp", "ignoring KOLO_TCP_CHUNK={} (4 KiB to 1 GiB)", chunk);
  }
  if (const int64_t streams = settingInt("KOLO_TCP_STREAMS"); streams >= 1 && streams <= 16) {
    options.streams = static_cast<int>(streams);
  } else {
    KOLO_LOG(kWarning, "tcp", "ignoring KOLO_TCP_STREAMS={} (1 to 16)", streams);
  }
  if (const uint64_t stripe = settingBytes("KOLO_TCP_STRIPE_MIN");
      stripe >= 4096 && stripe <= (uint64_t{1} << 40)) {
    options.stripeMinBytes = static_cast<size_t>(stripe);
  } else {
    KOLO_LOG(kWarning, "tcp", "ignoring KOLO_TCP_STRIPE_MIN={} (at least 4 KiB)", stripe);
  }
  const uint64_t bufferBytes = settingBytes("KOLO_TCP_SOCKET_BUFFER");
  if (bufferBytes <= static_cast<uint64_t>(INT32_MAX)) {
    options.socketBufferBytes = static_cast<int>(bufferBytes);
  } else {
    KOLO_LOG(kWarning, "tcp", "ignoring KOLO_TCP_SOCKET_BUFFER={} (above 2 GiB)", bufferBytes);
  }
  return options;
}

CorruptStreamReporter corruptStreamPublisher(const WorldSpec& spec) {
  if (!spec.options.abort) return {};
  auto global = [ranks = spec.globalRanks](int r) {
    return r >= 0 && static_cast<size_t>(r) < ranks.size() ? ranks[static_cast<size_t>(r)] : r;
  };
  return [abort = spec.options.abort, global, self = global(spec.rank)](
             int peer, const std::string& endpoint, const std::string& why) {
    PeerFailure failure;
    failure.rank = global(peer);
    failure.host = endpoint;
    failure.reason = "sent a corrupt data stream: " + why;
    failure.reporter = fmt::format("rank {}", self);
    abort->publish(failure);
  };
}

}  // namespace kolo
