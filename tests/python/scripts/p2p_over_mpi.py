"""Under mpirun with KOLO_CPU_OPERATIONS=mpi, point-to-point is refused on every rank with
KoloUnsupportedError naming the mpi transport (MPI folds Kolo's tags into MPI_TAG_UB), and
collectives still run. Exits 0 on success."""

import sys

import numpy as np

import kolo

kolo.init()
peer = (kolo.rank() + 1) % kolo.size()
failures = []
for name, call in (("send", lambda: kolo.isend(np.ones(4), peer, tag=1)),
                   ("recv", lambda: kolo.irecv(np.zeros(4), peer, tag=1))):
    try:
        call()
        failures.append("%s was accepted" % name)
    except kolo.KoloUnsupportedError as e:
        print("%s: %s" % (name, e), flush=True)
        if "not supported over the mpi transport" not in str(e):
            failures.append("%s: %s" % (name, e))
total = kolo.allreduce(np.ones(2), op=kolo.Sum, name="after.refusal")
if not np.array_equal(total, np.full(2, float(kolo.size()))):
    failures.append("allreduce after the refusal gave %s" % total)
kolo.shutdown()
print("failures: %s" % failures, flush=True)
sys.exit(1 if failures else 0)
