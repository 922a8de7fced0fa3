// connectShm: joins the ranks of one host through one POSIX shared-memory segment and returns
// the point-to-point transport and the direct-algorithm arena that live in it.
//
// Rank 0 creates the segment (O_EXCL, named from the job id; a stale one left by a dead job of
// the same id is replaced) and publishes its name through the store; the others open it; every
// rank maps it, writes its pid into its control block and meets the others at a store barrier,
// after which rank 0 unlinks the name at once. From then on the segment lives only as long as
// the mappings, so no /dev/shm entry survives any crash.
// Thread: caller's; every rank of the host calls it once per world.
#pragma once

#include <memory>

#include "kolo/base/kv_store.h"
#include "kolo/collectives/shm_arena.h"
#include "kolo/collectives/transport.h"
#include "kolo/collectives/world.h"

namespace kolo {

struct ShmWorld {
  std::shared_ptr<Transport> transport;
  std::shared_ptr<ShmArena> arena;
};

// Sizes of the segment's regions; every rank of a world must pass the same values.
struct ShmTuning {
  size_t ringBytes = 256 << 10;   // per ordered pair of ranks; a power of two >= 4 KiB
  size_t smallBytes = 64 << 10;   // allreduce up to this many bytes takes the small path
  size_t chunkBytes = 256 << 10;  // pipelined chunk of the large path; a multiple of 64
  size_t pipelineDepth = 4;       // staging slots per rank
  // Point-to-point messages from this size are read from the sender's memory (Channel::
  // SameHostPeer); per rank, from its caches (shmPullMinBytes).
  uint64_t pullMinBytes = uint64_t{512} << 10;
  // Arena outputs from this size are written with streaming stores; per rank, from its L3
  // (shmStreamingMinBytes).
  size_t streamingMinBytes = size_t{32} << 20;
};

// All spec.size ranks must be on this host. Fails with kTimeout naming the store key when a
// rank does not arrive within spec.connectTimeoutSeconds.
Expected<ShmWorld> connectShm(KvStore& store, const WorldSpec& spec);
Expected<ShmWorld> connectShm(KvStore& store, const WorldSpec& spec, const ShmTuning& tuning);

}  // namespace kolo
