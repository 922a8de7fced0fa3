// What the world bootstrap takes from this host's Topology: the topology itself (CPU part,
// discovered once per process and logged once at KOLO_LOG_LEVEL=info) and the shm arena's
// pipeline chunk derived from its cache sizes.
// Thread: any; the first call discovers (about 20 ms), later calls return the same object.
#pragma once

#include <cstddef>

#include "kolo/collectives/topology.h"

namespace kolo {

// Null when hwloc is unavailable (the reason is logged once at info level).
const Topology* processTopology();

// The large-allreduce chunk of a shm arena shared by `localRanks` ranks with `pipelineDepth`
// slots each: KOLO_SHM_CHUNK_BYTES when set (a multiple of 64, at least 4096), otherwise
// shmChunkBytesFor() of the L2 and L3 sizes, otherwise `fallback`. Every rank of the host
// computes the same value from the same hardware; the segment rejects a rank that does not.
size_t shmChunkBytes(int localRanks, size_t pipelineDepth, size_t fallback);

// The smallest point-to-point message a same-host receiver should read from the sender's memory
// (process_vm_readv, which pins every page and ran at about 13 GB/s where memcpy ran at 50)
// rather than take through the shm ring, whose pipelined copies by both ranks stay in cache:
// a quarter of the per-core L2 (with a 1 MiB L2: with both ranks sending at once the read won
// from 256 KiB up; one way at a time the two tied at 512 KiB, the ring won at 256 KiB and the
// read at 1 MiB; docs/PERFORMANCE.md), at least 64 KiB; 512 KiB when the L2 is unknown.
uint64_t shmPullMinBytes();

// The smallest arena output written with streaming stores, which skip reading the output's
// lines from DRAM before overwriting them: KOLO_SHM_STREAMING_BYTES when set, otherwise the size
// of one L3 (an output that large cannot stay cached anyway; a smaller one is better written
// through the cache, where the caller reads it next), 32 MiB when the L3 is unknown.
size_t shmStreamingMinBytes();

}  // namespace kolo
