#include "kolo/rendezvous/rank_zero_store.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/rand.h>

#include <cstdio>

#include "kolo/base/logging.h"
#include "kolo/launcher/store_server.h"
#include "kolo/protocol/store_wire.h"
#include "kolo/rendezvous/tcp_store.h"

namespace kolo {
namespace {

// A rank's client store together with what it depends on: on rank 0 the server it talks to, and
// the launcher session of the rendezvous. Both stop after the client is gone.
class ServedStore final : public KvStore {
 public:
  ServedStore(std::unique_ptr<launcher::StoreServer> server, std::unique_ptr<KvStore> client,
              std::shared_ptr<void> keepAlive)
      : keepAlive_(std::move(keepAlive)), server_(std::move(server)), client_(std::move(client)) {}
  ~ServedStore() override {
    client_.reset();
    server_.reset();
  }
  Status set(const std::string& key, std::string_view value) override {
    return client_->set(key, value);
  }
  Expected<std::string> get(const std::string& key, Deadline deadline) override {
    return client_->get(key, deadline);
  }
  Expected<int64_t> add(const std::string& key, int64_t delta) override {
    return client_->add(key, delta);
  }
  std::string describe() const override { return client_->describe() + " (served by rank 0)"; }

 private:
  std::shared_ptr<void> keepAlive_;
  std::unique_ptr<launcher::StoreServer> server_;
  std::unique_ptr<KvStore> client_;
};

}  // namespace

Expected<std::unique_ptr<launcher::StoreServer>> startRankZeroServer(
    const RankZeroStoreSpec& spec) {
  launcher::StoreServerOptions options;
  options.bindAddress = spec.address;
  options.port = spec.port;
  options.secret = spec.secret;
  options.worldSize = spec.size;
  options.log = [](const std::string& line) { KOLO_LOG(kWarning, "rendezvous", "{}", line); };
  auto started = launcher::StoreServer::start(std::move(options));
  if (!started) {
    return started.status().withContext(
        fmt::format("rank 0 hosting the rendezvous of {} on {}:{} (another process may hold the "
                    "port, or the address is not this machine's)",
                    spec.what, spec.address, spec.port));
  }
  return started;
}

Status fillFreshSecret(RankZeroStoreSpec& spec) {
  if (!spec.secret.empty()) return Status::ok();
  spec.secret.resize(protocol::kSecretBytes);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(spec.secret.data()),
                 static_cast<int>(spec.secret.size())) != 1) {
    return Status(Code::kIoError, "no randomness for the job secret (RAND_bytes failed)");
  }
  return Status::ok();
}

std::string rankZeroAnnouncement(const RankZeroStoreSpec& spec,
                                 const launcher::StoreServer& server) {
  return fmt::format("{} {} {}", spec.address, server.port(), protocol::toHex(spec.secret));
}

Status readRankZeroAnnouncement(const std::string& text, RankZeroStoreSpec& spec) {
  char address[64] = {0};
  char secret[2 * protocol::kSecretBytes + 1] = {0};
  int port = 0;
  if (std::sscanf(text.c_str(), "%63s %d %64s", address, &port, secret) != 3) {
    return makeStatus(Code::kInternal, "rank 0 announced a malformed rendezvous '{}'", text);
  }
  auto bytes = protocol::fromHex(secret);
  if (!bytes || bytes->size() != protocol::kSecretBytes) {
    return Status(Code::kInternal, "rank 0 announced a malformed job secret");
  }
  spec.address = address;
  spec.port = port;
  spec.secret = *bytes;
  return Status::ok();
}

Expected<std::unique_ptr<KvStore>> openAnnouncedRankZeroStore(RankZeroStoreSpec spec,
                                                              const ShareFromRankZero& share) {
  std::unique_ptr<launcher::StoreServer> server;
  std::string announcement;
  Status hosted;
  if (spec.rank == 0) {
    hosted = fillFreshSecret(spec);
    if (hosted.isOk()) {
      auto started = startRankZeroServer(spec);
      if (started) {
        server = std::move(started).value();
        announcement = rankZeroAnnouncement(spec, *server);
      } else {
        hosted = started.status();
      }
    }
  }
  KOLO_ASSIGN_OR_RETURN(std::string shared, share(announcement));
  KOLO_RETURN_IF_ERROR(hosted);
  if (shared.empty()) {
    return makeStatus(Code::kIoError, "rank 0 could not host the store of {} (see its log)",
                      spec.what);
  }
  KOLO_RETURN_IF_ERROR(readRankZeroAnnouncement(shared, spec));
  return joinRankZeroStore(spec, std::move(server));
}

Expected<std::string> resolveIpv4(const std::string& host, const std::string& role) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0 || !found) {
    return makeStatus(Code::kIoError, "cannot resolve '{}', {}: {}", host, role,
                      rc != 0 ? gai_strerror(rc) : "no IPv4 address");
  }
  char text[INET_ADDRSTRLEN] = {0};
  inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr, text, sizeof(text));
  ::freeaddrinfo(found);
  return std::string(text);
}

Expected<std::unique_ptr<KvStore>> openRankZeroStore(const RankZeroStoreSpec& spec) {
  std::unique_ptr<launcher::StoreServer> server;
  if (spec.rank == 0) {
    KOLO_ASSIGN_OR_RETURN(server, startRankZeroServer(spec));
  }
  return joinRankZeroStore(spec, std::move(server));
}

Expected<std::unique_ptr<KvStore>> joinRankZeroStore(
    const RankZeroStoreSpec& spec, std::unique_ptr<launcher::StoreServer> server) {
  auto client =
      TcpStore::connect(spec.address, spec.port, spec.secret, static_cast<uint32_t>(spec.rank),
                        Deadline::afterSeconds(spec.timeoutSeconds));
  if (!client) {
    return client.status().withContext(
        fmt::format("rank {} joining the rendezvous of {} at {}:{} hosted by rank 0", spec.rank,
                    spec.what, spec.address, spec.port));
  }
  KOLO_LOG(kDebug, "rendezvous", "rank {} of {}: store {}:{}", spec.rank, spec.what, spec.address,
           spec.port);
  if (!server && !spec.keepAlive) return std::unique_ptr<KvStore>(std::move(client).value());
  return std::unique_ptr<KvStore>(
      std::make_unique<ServedStore>(std::move(server), std::move(client).value(), spec.keepAlive));
}

}  // namespace kolo
