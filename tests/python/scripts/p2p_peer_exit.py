"""Rank 1 vanishes while rank 0 waits in a receive from it (and while rank 0's send to it
waits for its reply); both must raise KoloPeerError naming rank 1 and the transfer, instead of
hanging. Exits 0 on success.

Run by ctest under kolorun with KOLO_TIMEOUT_SECONDS far above the time the error may take:
over TCP the ended connection fails the transfer, over shared memory the peer-exchange's probe
of the peer's process does."""

import os
import sys
import time

import numpy as np

import kolo

kolo.init()
kolo.barrier()
if kolo.rank() == 1:
    time.sleep(0.5)  # rank 0 is in its receive by now
    os._exit(0)  # no shutdown: a crash as far as the others can tell
started = time.monotonic()
pending_send = kolo.isend(np.ones(8), 1, tag=6)
failures = []
for what, call in (("recv from rank 1 tag 4", lambda: kolo.recv(np.zeros(4), 1, tag=4)),
                   ("send to rank 1 tag 6", lambda: kolo.synchronize(pending_send))):
    try:
        call()
        print("%s succeeded with a vanished peer" % what, flush=True)
        os._exit(1)
    except kolo.KoloError as e:
        print("%s (%s): %s" % (type(e).__name__, e.status, e), flush=True)
        ok = isinstance(e, kolo.KoloPeerError) and what in str(e) and "rank 1" in str(e)
        failures += [] if ok else [what]
elapsed = time.monotonic() - started
print("errors after %.1f s" % elapsed, flush=True)
os._exit(0 if not failures and elapsed < 20 else 1)
