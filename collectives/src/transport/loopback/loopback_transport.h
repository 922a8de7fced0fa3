// LoopbackTransport: n ranks of one process (ranks as threads) exchanging messages through
// per-rank mailboxes. A send copies its bytes at once, straight into the matching posted
// receive when there is one, else into the receiver's unexpected-message store (TagMatcher), so
// sends always complete immediately and never reference the caller's buffer afterwards.
// Each rank has a LocalDoorbell rung on every delivery, which is what waitAll() parks on.
// With a FaultPlan, messages can be dropped, delayed, or fail because a rank died.
// Thread: each Transport is used by its rank's thread; deliveries run on the sender's thread
// under the receiver's mailbox lock.
#pragma once

#include <memory>
#include <vector>

#include "kolo/collectives/transport.h"
#include "transport/loopback/fault_plan.h"

namespace kolo {

// n connected transports, element r has rank r. `faults` may be null (no faults) and may be
// changed while the ranks run.
std::vector<std::shared_ptr<Transport>> makeLoopbackWorld(
    int n, std::shared_ptr<FaultPlan> faults = nullptr);

}  // namespace kolo
