// `kolo-bench --workload W --mode sharded`: one ZeRO/FSDP step's traffic replayed through the
// Kolo runtime. Each gradient of the workload (flattened and padded with zeros to a multiple
// of the world size, so every rank owns an equal slice) is reduce-scattered (average, async, in
// backward order, then all waited), then every rank's reduced slice is allgathered back into
// the full parameter (async, then all waited and copied out of the handles). The same bytes go
// through Open MPI with --compare mpi: MPI_Reduce_scatter_block + MPI_Allgather per tensor,
// and once over buffers packed rank-major (pack, one of each, unpack).
// Thread: the bench's main thread.
#pragma once

#include "workload_bench.h"

namespace kolo::bench {

// Warmup + timed steps, one checked step (every gathered element against the average of the
// ranks' inputs), then the MPI strategies when `mpi` is set. Every rank returns the same result.
Expected<WorkloadResult> runShardedWorkload(const Session& session, const Workload& workload,
                                            const WorkloadOptions& options, MpiJob* mpi);

}  // namespace kolo::bench
