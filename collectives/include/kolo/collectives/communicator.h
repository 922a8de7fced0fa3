// Communicator: a group of ranks, a Channel to each peer, and (when every rank shares one
// host) a shared-memory arena for direct algorithms. Collectives take a Communicator and
// never see tensor names, the coordinator or the store.
// Thread: one collective at a time per Communicator, on the caller's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "kolo/base/deadline.h"
#include "kolo/base/status.h"
#include "kolo/collectives/transport.h"

namespace kolo {

class ShmArena;  // collectives/src/transport/shm: same-host direct algorithms

struct CommunicatorOptions {
  // Upper bound on one collective; a silent peer becomes kTimeout naming it.
  double timeoutSeconds = 300.0;
};

class Communicator {
 public:
  Communicator(std::shared_ptr<Transport> transport, std::shared_ptr<ShmArena> arena,
               CommunicatorOptions options);
  ~Communicator();

  int rank() const { return transport_->rank(); }
  int size() const { return transport_->size(); }
  Transport& transport() { return *transport_; }
  Channel& peer(int r) { return transport_->channel(r); }
  // Non-null when every rank of this communicator maps one shared-memory arena.
  ShmArena* arena() const { return arena_.get(); }
  const CommunicatorOptions& options() const { return options_; }
  Deadline opDeadline() const { return Deadline::afterSeconds(options_.timeoutSeconds); }

  // Every rank calls collectives in the same order, so the n-th collective gets the same tag
  // base everywhere; an algorithm adds its step number (< 2^20) to it.
  uint64_t beginCollective() { return (++sequence_) << 20; }

  // Waits until every request finished or the deadline passed. Spins briefly, then parks on
  // the transport's doorbell. Returns the first failure; on timeout cancels what is pending
  // and returns kTimeout naming each pending request (and so each silent peer).
  Status waitAll(std::span<const RequestPtr> requests, Deadline deadline);
  Status waitAll(std::span<const RequestPtr> requests) { return waitAll(requests, opDeadline()); }

 private:
  std::shared_ptr<Transport> transport_;
  std::shared_ptr<ShmArena> arena_;
  CommunicatorOptions options_;
  uint64_t sequence_ = 0;
};

}  // namespace kolo
