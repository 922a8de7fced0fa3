// The topology part of `kolorun --check-build`: this machine's NUMA nodes, cores, caches, GPUs
// and NICs, as `kolo-bench --topology` prints them. kolorun runs the kolo-bench installed next
// to it (one rank, no job) instead of carrying its own copy of the runtime's hwloc discovery
// and report, which it may not link.
//
// Thread: the launcher's main thread.
#pragma once

#include <string>

namespace kolo::launcher {

// `kolo-bench --topology` from kolorunPath's directory, run with the KOLO_*/MPI/Slurm rank
// variables removed so it runs alone; a "topology: ..." line naming the reason when it is not
// there, fails, or takes longer than timeoutSeconds (it is then killed).
std::string checkBuildTopology(const std::string& kolorunPath, const char* const* envp,
                               double timeoutSeconds = 20.0);

// The executable this process runs (/proc/self/exe); empty when it cannot be read.
std::string selfExecutablePath();

}  // namespace kolo::launcher
