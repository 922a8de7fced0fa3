// The runtime path of kolo-bench: each allreduce is a named tensor submitted to a Session
// (kolo.hpp) and waited on through its handle, so a row times submit -> negotiation (or
// response cache hit) -> fusion -> collective -> handle ready, the latency a framework sees.
// Once a session owns the communicator, every exchange the bench itself needs (barriers,
// gathering the times) is also a session op: the coordinator thread is the only one allowed
// on the transport.
// Thread: the caller's (main) thread; the session's coordinator runs the collectives.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "bench_ops.h"
#include "bench_report.h"
#include "bench_runner.h"
#include "kolo/base/status.h"
#include "kolo/kolo.hpp"

namespace kolo::bench {

// Every rank's value at each index, reduced with max: per iteration, the slowest rank's time.
// `name` must be unique per distinct call site (it is the session's tensor name).
Expected<std::vector<double>> maxAcrossRanks(const Session& session, const std::string& name,
                                             std::span<const double> local);
// The sum over ranks (wrong-element counts).
Expected<uint64_t> sumAcrossRanks(const Session& session, const std::string& name, uint64_t local);
Status sessionBarrier(const Session& session, const std::string& name);

// One allreduce of `shape` submitted as tensor `name` and waited for, at most
// `timeoutSeconds`.
Status runtimeAllreduce(const Session& session, CollectiveBench& bench, const SizeShape& shape,
                        const std::string& name, double timeoutSeconds);

// runSize (bench_runner.h) over the session: warmup, timed submit->ready iterations, the
// checked call, MPI's collective on the same buffers when `mpi` is set, and the
// slowest-rank-per-iteration summary.
Expected<SideResult> runRuntimeSize(const Session& session, CollectiveBench& bench,
                                    const SizePlan& plan, double timeoutSeconds, MpiJob* mpi);

}  // namespace kolo::bench
