// kolorun's own lines on its stderr ("kolorun: ..."), and the exit codes it stops with when the
// job cannot start. Once ranks run, the exit code is the supervisor's (supervisor.h).
//
// Thread: the launcher's main thread; logLine also from the store's io thread.
#pragma once

#include <string>

#include "kolo/base/status.h"

namespace kolo::launcher {

// Something failed while setting the job up (a system call, the store, ssh).
inline constexpr int kExitLaunchFailed = 1;
// The command line or the hosts it names do not describe a job that can run.
inline constexpr int kExitUsage = 2;
// The shell's code for "command cannot be executed / not found".
inline constexpr int kExitCannotExecute = 127;

// "kolorun: <message>" on stderr, flushed.
void printError(const std::string& message);

// The same with one write(2), so a line from the store's io thread never splits a rank's line.
void logLine(const std::string& line);

// Prints the status's message and returns `exitCode`: how every step that stops kolorun ends.
int stopWith(const Status& status, int exitCode);

}  // namespace kolo::launcher
