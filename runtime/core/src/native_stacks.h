// The "# native stacks" section of a flight-recorder dump: the native (C/C++) stack of every
// thread blocked in Kolo (blocked_threads.h), symbolized on the dump's thread, never in a
// signal handler. kolo-doctor reads it back (launcher/tools/kolo_doctor.py).
//
// Format (one block per thread, frames innermost first, a function inlined at a pc listed
// before the one it was inlined into, under the same number):
//   # native stacks (threads blocked in Kolo, most recent call first): 2 thread(s)
//   thread 4242 (python3): caller waiting for 'grad.x', blocked 3.104 s
//     #0 0x7f3a... __futex_abstimed_wait_common (./nptl/futex-internal.c:87) [libc.so.6]
//     #2 0x7f3a... kolo::core::OpState::wait(kolo::Deadline, ...) const (../runtime/core/src/handle.cc:26) [libkolo.so]
//   thread 4250 (python3): coordinator of process set 0 (...), blocked 3.101 s: no stack (...)
// or, with no thread blocked, "# native stacks (...): none"; where the signal is the
// program's, "# not taken: why" follows the header and the threads have no frames.
//
// Symbols: function names, files and lines come from the binaries' DWARF through libbacktrace
// (GCC's, linked when the build found it; RelWithDebInfo or Debug builds carry the debug
// information), else from the dynamic symbol table (dladdr; libkolo.so exports only kolo_*,
// so Kolo's internal frames then show as module+offset). The unwinder follows the binaries'
// unwind tables (.eh_frame, present in every x86-64 and AArch64 build), not frame pointers.
// Thread: any (the dump's thread).
#pragma once

#include <string>
#include <vector>

namespace kolo::core {

// The section, ending in a newline.
std::string nativeStacksSection();

// Reads the binaries' symbols now, once per process (for a RelWithDebInfo libkolo.so about
// 0.6 s and 55 MiB, measured while other builds ran), so that a dump soon after is not slowed
// by it: the live verdict waits a bounded time for each rank's dump. The first dump with a
// blocked thread does it otherwise.
void warmNativeSymbols();

// True when this build names frames from DWARF (libbacktrace), Kolo's internal ones included.
bool nativeStacksHaveSymbols();

// One line per frame, "function (file:line) [module]" as available; `pcs` innermost first,
// every pc after the first a return address.
std::vector<std::string> symbolizeFrames(const std::vector<void*>& pcs);

}  // namespace kolo::core
