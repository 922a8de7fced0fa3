// Helpers of the live verdict, shared by kolorun (launcher/src/job_status.cc) and the ranks'
// own live verdict (runtime/core/src/live_status.cc): run kolo-doctor and keep what it printed,
// write a verdict file so readers never see half of it, and find kolo-doctor.
// Thread: any.
#pragma once

#include <string>
#include <vector>

namespace kolo {

// Runs argv[0] (a path) with argv and returns what it wrote to stdout and stderr; killed when
// it runs past `timeoutSeconds`. Started with posix_spawn, so it is safe in a process with
// threads; signals are reset to their defaults and unblocked in the child.
std::string runProgramOutput(const std::vector<std::string>& argv, double timeoutSeconds);

// Owner-only, never through a link planted at the temporary name (O_EXCL | O_NOFOLLOW), then
// renamed over `path`. False when it could not be written.
bool writeFileAtomically(const std::string& path, const std::string& text);

// kolo-doctor (launcher/tools/kolo_doctor.py, placed in the build's bin/ beside kolorun): looked
// for beside the executable or shared library holding this code, in ../bin of it, then at the
// build's own bin/. Empty when none is found.
std::string koloDoctorPath();

}  // namespace kolo
