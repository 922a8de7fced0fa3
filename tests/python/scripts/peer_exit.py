"""Rank 1 vanishes mid-job; rank 0's next collective must raise the expected KoloError
subclass (argv[1]) naming the lost rank, instead of hanging. Exits 0 on success.

Run by ctest under kolorun with KOLO_TIMEOUT_SECONDS far above the time the error may take:
over TCP the ended connection is a KoloPeerError, over shared memory the peer's exited process
is too, whether rank 1 left during this op's negotiation or just before it (then no wait is in
progress and only the coordinator's probe of its peers ends the op)."""

import os
import sys
import time

import numpy as np

import kolo

expected = getattr(kolo, sys.argv[1])
# "between_cycles": rank 1 answers the negotiation cycle that carries rank 0's request (its
# coordinator has nothing to offer) and only then exits, so no wait is in progress on rank 0.
between_cycles = sys.argv[2:] == ["between_cycles"]
kolo.init()
kolo.barrier()
if kolo.rank() == 1:
    if between_cycles:
        time.sleep(1.0)
    os._exit(0)  # no shutdown: a crash as far as the others can tell
try:
    kolo.allreduce(np.ones(4), name="after.peer.exit")
except kolo.KoloError as e:
    ok = isinstance(e, expected) and "rank 1" in str(e) and "after.peer.exit" in str(e)
    print("%s (%s): %s" % (type(e).__name__, e.status, e), flush=True)
    os._exit(0 if ok else 1)
print("the allreduce with a vanished peer succeeded", flush=True)
os._exit(1)
