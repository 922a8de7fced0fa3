"""The straggler workload of check_metrics.py's `straggler` mode: rank SLOW_RANK sleeps DELAY
seconds before submitting each of its allreduces, half of them under one repeated name (the
response-cache path) and half under fresh names (the negotiated path), so the others wait for it
every time. Then, as metrics_job.py does, it creates CONTROL_DIR/ready.<rank> and waits for
CONTROL_DIR/done."""

import sys
import time

import numpy as np

from metrics_job import hold_until_done

SLOW_RANK = 1
DELAY = 0.05
CACHED_OPS = 10
NEGOTIATED_OPS = 10


def run(control_dir):
    import kolo

    kolo.init()
    rank, size = kolo.rank(), kolo.size()
    names = ["straggler.cached"] * CACHED_OPS + \
        ["straggler.fresh.%d" % i for i in range(NEGOTIATED_OPS)]
    for name in names:
        if rank == SLOW_RANK:
            time.sleep(DELAY)
        out = kolo.allreduce(np.full(8, rank, dtype=np.float32), op=kolo.Sum, name=name)
        assert np.all(out == size * (size - 1) / 2), out
    hold_until_done(control_dir, rank)
    kolo.shutdown()


if __name__ == "__main__":
    run(sys.argv[1])
