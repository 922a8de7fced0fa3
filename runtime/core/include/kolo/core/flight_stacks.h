// Where a Python process should have faulthandler write every thread's stack on SIGUSR1, so
// the flight recorder's SIGUSR1 dump carries them (see runtime/core/src/flight_recorder.h):
// <KOLO_FLIGHT_RECORDER_DIR>/kolo-stacks.pid<P>.txt, or "" when Kolo does not own SIGUSR1 in
// this process (a program's own handler) or no session is open.
// Thread: any.
#pragma once

#include <string>

namespace kolo::core {

std::string flightStacksPath();

}  // namespace kolo::core
