"""One rank of an autotuned job (started by check_autotune.py under kolorun): a training-like
loop whose every step allreduces the same named tensors, one per allreduce size class the
tuner picks an algorithm for, plus a fusable group of small ones. Every result is checked
exactly against NumPy's float64 reduction of what each rank contributed, in every step, while
the tuner changes fusion and algorithms underneath. Exits 0 when every step was exact."""

import sys

import numpy as np

import kolo

# (name, elements): small (fusable), medium (64K-1M bytes) and large (>= 1M bytes) float32.
TENSORS = [("small.a", 7), ("small.b", 1000), ("small.c", 3), ("medium", 40000),
           ("large", 400000)]


def contribution(rank, step, index, count):
    # Small integers: float32 sums of a few ranks are exact, so the check can be exact too.
    return ((np.arange(count) % 97) + rank * 3 + step % 5 + index).astype(np.float32)


def main():
    steps = int(sys.argv[1])
    kolo.init()
    rank, size = kolo.rank(), kolo.size()
    for step in range(steps):
        handles = [kolo.allreduce_async(contribution(rank, step, i, n), op=kolo.Sum,
                                        name="grad." + name)
                   for i, (name, n) in enumerate(TENSORS)]
        for i, ((name, n), h) in enumerate(zip(TENSORS, handles)):
            got = kolo.synchronize(h)
            want = sum(contribution(r, step, i, n).astype(np.float64) for r in range(size))
            if not np.array_equal(got.astype(np.float64), want):
                bad = int(np.flatnonzero(got.astype(np.float64) != want)[0])
                print("rank %d step %d: grad.%s[%d] is %r, expected %r"
                      % (rank, step, name, bad, got[bad], want[bad]), flush=True)
                return 1
    kolo.shutdown()
    print("rank %d: %d steps exact" % (rank, steps), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
