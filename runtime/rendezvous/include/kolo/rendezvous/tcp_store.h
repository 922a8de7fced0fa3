// TcpStore: the KvStore client of kolorun's authenticated rendezvous server
// (wire format in kolo/protocol/store_wire.h).
//
// Each request takes an idle connection from a small pool, or opens and authenticates a new one,
// so a get() blocked on one thread never holds up a set() from another (which may be the very set
// it waits for). A connection that failed or passed its deadline is closed, never reused: its
// byte stream may hold a late reply. Opening costs one round trip plus two HMACs.
//
// Thread: any; all methods are thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kolo/base/kv_store.h"

namespace kolo {

class TcpStore final : public KvStore {
 public:
  // Connects to host:port (retrying refused connections until `deadline`, as the server may be a
  // moment behind) and authenticates with `secret` (32 raw bytes) as `rank` (kNoRank for tools).
  static Expected<std::unique_ptr<TcpStore>> connect(const std::string& host, int port,
                                                     std::string secret, uint32_t rank,
                                                     Deadline deadline);
  ~TcpStore() override;

  Status set(const std::string& key, std::string_view value) override;
  Expected<std::string> get(const std::string& key, Deadline deadline) override;
  Expected<int64_t> add(const std::string& key, int64_t delta) override;
  std::string describe() const override;

 private:
  struct Connection;
  TcpStore(std::string host, int port, std::string secret, uint32_t rank);
  Expected<std::unique_ptr<Connection>> openConnection(Deadline deadline);
  // One request/reply on a pooled connection; returns kValue's payload or the server's error.
  Expected<std::string> call(int op, const std::string& payload, Deadline deadline,
                             const std::string& what);

  std::string host_;
  int port_;
  std::string secret_;
  uint32_t rank_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

// "host:port" -> parts; IPv6 literals in brackets ("[::1]:29500").
Expected<std::pair<std::string, int>> parseHostPort(std::string_view text);

}  // namespace kolo
