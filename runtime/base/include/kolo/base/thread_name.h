// Names for Kolo's background threads, as top -H, gdb, perf and /proc/<pid>/task/*/comm show
// them ("kolo-coord", "kolo-tcp-io", ...), so a user who finds a busy or stuck thread in a
// training process can tell which part of Kolo it is.
// Thread: names the calling thread.
#pragma once

namespace kolo {

// Linux keeps at most 15 characters; a longer name is cut there.
void nameThisThread(const char* name);

}  // namespace kolo
