// CallerDrive: what lets a caller waiting on a handle run its process set's cycles itself
// (Coordinator::drive) instead of waiting for the coordinator thread to be woken and scheduled.
// The set's loop iterations (poll go, enter a cycle, run it) are done by whichever thread holds
// the set's driver role: the coordinator thread, or a caller waiting on one of the set's handles
// while the coordinator is parked or between cycles. Exactly one thread holds it at a time, so
// every piece of coordinator state stays single-threaded, and every rank still runs the same
// cycles in the same order: driving changes which thread of a rank runs them, never the
// protocol. KOLO_CALLER_DRIVES=off keeps every cycle on the coordinator thread.
// DriveGate is what an OpState's wait helper holds to reach the coordinator (waiter_gate.h).
// Thread: any.
#pragma once

#include "waiter_gate.h"

namespace kolo::core {

class Coordinator;

using DriveGate = WaiterGate<Coordinator>;

// KOLO_CALLER_DRIVES: true for auto (the default), false for off.
bool callerDrivesFromEnv();

}  // namespace kolo::core
