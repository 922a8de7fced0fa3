// A rendezvous store that rank 0 hosts itself, for jobs started without kolorun: rank 0 runs
// kolorun's store server (kolo/launcher/store_server.h: the same wire protocol and HMAC
// authentication) at a known address and port, and every rank, rank 0 included, connects to it.
// The Slurm bootstrap (slurm_rendezvous.h) and the torchrun one (torch_rendezvous.h) share it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "kolo/base/kv_store.h"

namespace kolo {
namespace launcher {
class StoreServer;
}

struct RankZeroStoreSpec {
  std::string address;  // IPv4 address rank 0 listens on and every rank connects to
  int port = 0;
  std::string secret;  // raw bytes authenticating every message
  int rank = 0;
  int size = 1;
  double timeoutSeconds = 30;  // how long a rank waits for rank 0's server
  std::string what;            // "Slurm step 12.0": names the rendezvous in errors
  // Released after the store's client and server: a launcher session the rendezvous came
  // through (PMIx) and that must outlive the job's use of the store.
  std::shared_ptr<void> keepAlive;
};

// On rank 0, the returned store also owns the server; the server stops after the client.
Expected<std::unique_ptr<KvStore>> openRankZeroStore(const RankZeroStoreSpec& spec);

// The two halves of openRankZeroStore, for a rendezvous that publishes the server's address
// (its port chosen by the kernel when spec.port is 0) before the ranks join: rank 0 starts the
// server; then every rank joins, rank 0 passing its server in.
Expected<std::unique_ptr<launcher::StoreServer>> startRankZeroServer(const RankZeroStoreSpec& spec);
Expected<std::unique_ptr<KvStore>> joinRankZeroStore(const RankZeroStoreSpec& spec,
                                                     std::unique_ptr<launcher::StoreServer> server);

// For a rendezvous that hands rank 0's address to the others as one text (PMIx's publish, a
// broadcast over the world): a fresh random secret into spec.secret when it is empty; the text
// "ADDRESS PORT HEXSECRET" of a started server; and, on the other ranks, the spec it gives.
Status fillFreshSecret(RankZeroStoreSpec& spec);
std::string rankZeroAnnouncement(const RankZeroStoreSpec& spec,
                                 const launcher::StoreServer& server);
Status readRankZeroAnnouncement(const std::string& text, RankZeroStoreSpec& spec);

// The whole of such a rendezvous: rank 0 fills the secret, starts the server and passes the
// announcement to `share`, which returns rank 0's text on every rank (the others pass "";
// rank 0 passes "" when it failed, and every rank then fails); then every rank joins.
using ShareFromRankZero = std::function<Expected<std::string>(const std::string&)>;
Expected<std::unique_ptr<KvStore>> openAnnouncedRankZeroStore(RankZeroStoreSpec spec,
                                                              const ShareFromRankZero& share);

// The first IPv4 address of `host`; `role` says what the host is in the error.
Expected<std::string> resolveIpv4(const std::string& host, const std::string& role);

}  // namespace kolo
