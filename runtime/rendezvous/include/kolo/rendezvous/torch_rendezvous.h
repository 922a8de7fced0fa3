// The rendezvous of ranks started by torchrun or a Kubernetes PyTorchJob, without kolorun: the
// torch convention (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) gives every rank its place and
// rank 0's address. Rank 0 hosts the store (rank_zero_store.h) on MASTER_ADDR at MASTER_PORT + 1:
// MASTER_PORT itself belongs to torchrun's agent and torch.distributed's own store.
//
// The convention carries no secret. With KOLO_SECRET exported to every rank (a Kubernetes Secret,
// or `export` before torchrun) the store and the transports authenticate with it; without one the
// secret is derived from public values (MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RUN_ID), which
// keeps separate jobs apart but protects nothing against anyone who can reach the port.
// docs/SECURITY.md says so.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "kolo/base/kv_store.h"
#include "kolo/base/status.h"

namespace kolo {

struct TorchLaunch {
  int rank = 0;            // RANK
  int size = 1;            // WORLD_SIZE
  std::string masterAddr;  // MASTER_ADDR
  int masterPort = 0;      // MASTER_PORT
  std::string runId;       // TORCHELASTIC_RUN_ID, empty when absent
};

// nullopt unless RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT are all set; an error naming the
// variable when one is malformed (not a number, rank outside the world, port out of range).
Expected<std::optional<TorchLaunch>> torchLaunchFromEnv();

struct TorchStore {
  std::unique_ptr<KvStore> store;  // on rank 0 it also owns the server
  std::string jobId;               // "torch-ADDR-PORT[-RUNID]": store keys and shm segments
  std::string secret;              // kSecretBytes raw bytes
  bool authenticated = false;      // the secret came from KOLO_SECRET
};

// `exported`: KOLO_SECRET's decoded bytes, empty when not set.
Expected<TorchStore> openTorchStore(const TorchLaunch& launch, const std::string& exported,
                                    double timeoutSeconds);

}  // namespace kolo
