"""Rank 1 vanishes mid-job; rank 0's next collective must raise the expected KoloError
subclass (argv[1]) naming the lost rank, instead of hanging. Exits 0 on success.

Run by ctest under kolorun with a short KOLO_TIMEOUT_SECONDS: over TCP the reset connection
is a KoloPeerError; over shared memory the silent peer is a KoloTimeoutError."""

import os
import sys

import numpy as np

import kolo

expected = getattr(kolo, sys.argv[1])
kolo.init()
kolo.barrier()
if kolo.rank() == 1:
    os._exit(0)  # no shutdown: a crash as far as the others can tell
try:
    kolo.allreduce(np.ones(4), name="after.peer.exit")
except kolo.KoloError as e:
    ok = isinstance(e, expected) and "rank 1" in str(e) and "after.peer.exit" in str(e)
    print("%s (%s): %s" % (type(e).__name__, e.status, e), flush=True)
    os._exit(0 if ok else 1)
print("the allreduce with a vanished peer succeeded", flush=True)
os._exit(1)
