// StoreServer: kolorun's rendezvous key-value store (set, get with wait, add) over TCP, every
// message authenticated with the job secret (kolo/protocol/store_wire.h). Boost.Asio only moves
// bytes; framing and authentication are the protocol classes.
//
// A connection that sends garbage, fails authentication, replays a message or stays silent past
// the handshake timeout is closed and reported through the log callback with its peer address;
// other connections and waiting gets are not disturbed. The server also records which ranks have
// authenticated, for the supervisor's start timeout.
//
// Thread: its own io thread runs every handler; start(), port(), joinedRanks() and the destructor
// are called from the launcher's main thread. The log callback runs on the io thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kolo/base/status.h"

namespace kolo::launcher {

struct StoreServerOptions {
  std::string bindAddress = "127.0.0.1";
  int port = 0;        // 0: any free port
  std::string secret;  // kSecretBytes raw bytes
  int worldSize = 0;   // hellos from ranks outside 0..worldSize-1 are refused
  double handshakeTimeoutSeconds = 10;
  std::function<void(const std::string&)> log;  // one line, no newline; may be empty
};

class StoreServer {
 public:
  static Expected<std::unique_ptr<StoreServer>> start(StoreServerOptions options);
  ~StoreServer();  // stops the io thread and closes every connection
  StoreServer(const StoreServer&) = delete;
  StoreServer& operator=(const StoreServer&) = delete;

  int port() const;
  // Sets a key as a client's set would, from any thread (kolorun's own keys: the elastic
  // membership). Applied on the io thread in call order.
  void set(const std::string& key, std::string value);
  // Adds `delta` to the integer at `key` (missing: 0) as a client's add would, from any thread;
  // the new value, or nullopt when the key holds no integer or the io thread does not answer
  // within a second.
  std::optional<int64_t> add(const std::string& key, int64_t delta);
  // For each rank 0..worldSize-1, whether it has authenticated at least once.
  std::vector<bool> joinedRanks() const;
  // Connections closed for failing the protocol (bad frame, MAC, sequence, or silence).
  int rejectedConnections() const;
  // Sets `key` unless it or `claimKey` (its first-wins claim, see job_abort.h) already exists.
  void setIfUnclaimed(const std::string& key, std::string value, const std::string& claimKey);
  // Every key that starts with `prefix`, with its value (kolorun reads the ranks' heartbeats);
  // empty when the io thread does not answer within the timeout.
  std::map<std::string, std::string> valuesWithPrefix(const std::string& prefix,
                                                      double timeoutSeconds = 1.0) const;

  class Impl;

 private:
  explicit StoreServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// 32 random bytes from the kernel for the job secret.
Expected<std::string> makeSecret();

}  // namespace kolo::launcher
