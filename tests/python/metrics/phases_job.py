"""The workload of check_metrics.py's `phases` mode: every rank runs allreduces (small ones and
large ones that take the pipelined paths), allgathers and broadcasts, checks their results, then,
as metrics_job.py does, creates CONTROL_DIR/ready.<rank> and waits for CONTROL_DIR/done. The
counts are in EXPECTED; the driver imports them from here."""

import sys

import numpy as np

from metrics_job import hold_until_done

SMALL = 100             # float32 elements
LARGE = 1 << 20         # float32 elements (4 MiB): staged through the arena / ring in chunks
ROUNDS = 4              # of each collective and size
# Per rank: collective -> tensors completed.
EXPECTED = {"allreduce": 2 * ROUNDS, "allgather": 2 * ROUNDS, "broadcast": 2 * ROUNDS}


def run(control_dir):
    import kolo

    kolo.init()
    rank, size = kolo.rank(), kolo.size()
    for i in range(ROUNDS):
        for n in (SMALL, LARGE):
            out = kolo.allreduce(np.full(n, rank + i, dtype=np.float32), op=kolo.Sum,
                                 name="phases.allreduce.%d" % n)
            assert np.all(out == size * i + size * (size - 1) / 2), out[:4]
            out = kolo.allgather(np.full(n, rank, dtype=np.float32), name="phases.allgather.%d" % n)
            want = np.repeat(np.arange(size, dtype=np.float32), n)
            assert np.array_equal(out, want), out[::n]
            out = kolo.broadcast(np.full(n, rank * 10 + i, dtype=np.float32), root_rank=0,
                                 name="phases.broadcast.%d" % n)
            assert np.all(out == i), out[:4]
    hold_until_done(control_dir, rank)
    kolo.shutdown()


if __name__ == "__main__":
    run(sys.argv[1])
