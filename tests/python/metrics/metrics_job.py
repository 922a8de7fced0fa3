"""The workload the live-metrics tests scrape (tests/python/metrics/check_metrics.py).

Every rank runs a known set of collectives and checks their results, then creates
CONTROL_DIR/ready.<rank> and waits (at most 120 s) for CONTROL_DIR/done before it shuts down, so
the driver can scrape the job while it is still running. The counts are in EXPECTED below; the
driver imports them from here."""

import os
import sys
import time

import numpy as np

# Per rank: collective -> (tensors, payload bytes).
SYNC_ALLREDUCES = 6      # float32[100], one name, run one after the other
FUSED_ALLREDUCES = 4     # float32[10] each, submitted together
BROADCASTS = 2           # float64[10] from rank 0
EXPECTED = {
    "allreduce": (SYNC_ALLREDUCES + FUSED_ALLREDUCES,
                  SYNC_ALLREDUCES * 400 + FUSED_ALLREDUCES * 40),
    "broadcast": (BROADCASTS, BROADCASTS * 80),
}
# The ops the job itself runs (kolo.init() adds its own).
OPS_PER_RANK = SYNC_ALLREDUCES + FUSED_ALLREDUCES + BROADCASTS


def run(control_dir):
    import kolo

    kolo.init()
    rank, size = kolo.rank(), kolo.size()
    expected_sum = size * (size + 1) / 2
    for _ in range(SYNC_ALLREDUCES):
        out = kolo.allreduce(np.full(100, rank + 1, dtype=np.float32), op=kolo.Sum,
                             name="metrics.sync")
        assert np.all(out == expected_sum), out
    handles = [kolo.allreduce_async(np.full(10, rank + i, dtype=np.float32), op=kolo.Sum,
                                    name="metrics.fused.%d" % i)
               for i in range(FUSED_ALLREDUCES)]
    for i, h in enumerate(handles):
        out = kolo.synchronize(h)
        assert np.all(out == size * i + size * (size - 1) / 2), (i, out)
    for b in range(BROADCASTS):
        out = kolo.broadcast(np.full(10, rank * 10 + b, dtype=np.float64), root_rank=0,
                             name="metrics.bcast.%d" % b)
        assert np.all(out == b), out
    hold_until_done(control_dir, rank)
    kolo.shutdown()


def hold_until_done(control_dir, rank):
    """Creates CONTROL_DIR/ready.<rank>, then waits (at most 120 s) for CONTROL_DIR/done, which
    the driver creates once it has read what it checks while the job is alive."""
    open(os.path.join(control_dir, "ready.%d" % rank), "w").close()
    deadline = time.monotonic() + 120
    done = os.path.join(control_dir, "done")
    while not os.path.exists(done):
        if time.monotonic() > deadline:
            print("rank %d: the driver never created %s" % (rank, done), flush=True)
            sys.exit(1)
        time.sleep(0.05)


if __name__ == "__main__":
    run(sys.argv[1])
