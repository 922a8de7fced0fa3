#include "kolo/rendezvous/slurm_rendezvous.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstdlib>

#include "kolo/base/env.h"
#include "kolo/base/logging.h"
#include "kolo/launcher/store_server.h"
#include "kolo/protocol/store_wire.h"
#include "kolo/rendezvous/tcp_store.h"

namespace kolo {
namespace {

// The client store of rank 0 together with the server it talks to; the server stops after the
// client is gone.
class ServedStore final : public KvStore {
 public:
  ServedStore(std::unique_ptr<launcher::StoreServer> server, std::unique_ptr<KvStore> client)
      : server_(std::move(server)), client_(std::move(client)) {}
  ~ServedStore() override { client_.reset(); }
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
  std::unique_ptr<launcher::StoreServer> server_;
  std::unique_ptr<KvStore> client_;
};

// The first IPv4 address of `host`: where rank 0 listens and every rank connects.
Expected<std::string> ipv4Address(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0 || !found) {
    return makeStatus(Code::kIoError,
                      "cannot resolve '{}', the first node of the Slurm step (rank 0 hosts the "
                      "rendezvous there): {}",
                      host, rc != 0 ? gai_strerror(rc) : "no IPv4 address");
  }
  char text[INET_ADDRSTRLEN] = {0};
  inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr, text, sizeof(text));
  ::freeaddrinfo(found);
  return std::string(text);
}

}  // namespace

int slurmRendezvousPort(const SlurmStep& step) {
  // FNV-1a over "JOB.STEP": neighbouring job ids land far apart.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : step.jobId + "." + step.stepId) h = (h ^ c) * 1099511628211ULL;
  return 20000 + static_cast<int>(h % 12000);
}

Expected<SlurmStepStore> openSlurmStepStore(const SlurmStep& step, const std::string& exported,
                                            double timeoutSeconds) {
  if (step.rank == 0 && step.nodeId != 0) {
    return makeStatus(Code::kInvalidUsage,
                      "Slurm placed rank 0 on node {} ({}), not on the step's first node {}: "
                      "Kolo's srun bootstrap needs rank 0 on the first node (use the default "
                      "block distribution, or start the job with kolorun)",
                      step.nodeId, step.nodeName, step.nodes.front());
  }
  SlurmStepStore out;
  const char* cluster = std::getenv("SLURM_CLUSTER_NAME");
  out.jobId = fmt::format("slurm-{}-{}.{}", cluster ? cluster : "", step.jobId, step.stepId);
  KOLO_ASSIGN_OR_RETURN(out.secret, slurmStepSecret(step, exported));
  KOLO_ASSIGN_OR_RETURN(std::string address, ipv4Address(step.nodes.front()));
  const int port = slurmRendezvousPort(step);
  std::unique_ptr<launcher::StoreServer> server;
  if (step.rank == 0) {
    launcher::StoreServerOptions options;
    options.bindAddress = address;
    options.port = port;
    options.secret = out.secret;
    options.worldSize = step.size;
    options.log = [](const std::string& line) { KOLO_LOG(kWarning, "rendezvous", "{}", line); };
    auto started = launcher::StoreServer::start(std::move(options));
    if (!started) {
      return started.status().withContext(fmt::format(
          "rank 0 hosting the rendezvous of Slurm step {}.{} on {}:{} (the port is derived "
          "from the job and step ids; another process holds it)",
          step.jobId, step.stepId, address, port));
    }
    server = std::move(started).value();
  }
  auto client = TcpStore::connect(address, port, out.secret, static_cast<uint32_t>(step.rank),
                                  Deadline::afterSeconds(timeoutSeconds));
  if (!client) {
    return client.status().withContext(
        fmt::format("rank {} joining the rendezvous of Slurm step {}.{} at {}:{} hosted by rank 0",
                    step.rank, step.jobId, step.stepId, address, port));
  }
  if (server) {
    out.store = std::make_unique<ServedStore>(std::move(server), std::move(client).value());
  } else {
    out.store = std::move(client).value();
  }
  KOLO_LOG(kDebug, "rendezvous", "rank {} of Slurm step {}.{}: store {}:{}", step.rank, step.jobId,
           step.stepId, address, port);
  return out;
}

}  // namespace kolo
