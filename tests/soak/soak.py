"""One rank of the Kolo soak: random allreduce/allgather/broadcast traffic for a given time,
every result checked against a reference computed from seeds, and the process's resources
(resident memory, file descriptors, threads, /dev/shm segments) sampled to show they stay flat
after warm-up. Started on every rank by tests/soak/run_soak.sh through kolorun.

Usage: soak.py SECONDS REPORT_PREFIX   (writes REPORT_PREFIX.rank<r>.json)
Values are small integers in every dtype, so sums and products are exact in floating point
too and every element is compared exactly, whatever order the algorithm reduces in.
"""

import json
import os
import sys
import time

import numpy as np

import kolo

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.uint8, np.int32, np.int64]
OPS = [("sum", kolo.Sum), ("min", kolo.Min), ("max", kolo.Max), ("product", kolo.Product)]
MAX_BYTES = 4 << 20


def rank_data(seed, rank, count, dtype, opname):
    rng = np.random.default_rng([seed, rank])
    if opname == "product":
        values = rng.choice(np.array([1, 1, 1, 2], dtype=np.int64), size=count)
    elif np.dtype(dtype).kind == "u":
        values = rng.integers(0, 60, size=count)
    else:
        values = rng.integers(-30, 30, size=count)
    return values.astype(dtype)


def reference(seed, size, count, dtype, opname):
    parts = [rank_data(seed, r, count, dtype, opname).astype(np.int64) for r in range(size)]
    if opname == "sum":
        out = np.sum(parts, axis=0)
    elif opname == "min":
        out = np.min(parts, axis=0)
    elif opname == "max":
        out = np.max(parts, axis=0)
    else:
        out = np.prod(parts, axis=0)
    return out.astype(dtype)


def resources():
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    shm = [n for n in os.listdir("/dev/shm") if n.startswith("kolo")]
    return {"rss_kib": int(status["VmRSS"].split()[0]), "threads": int(status["Threads"]),
            "fds": len(os.listdir("/proc/self/fd")), "shm_segments": len(shm)}


def main():
    seconds, prefix = float(sys.argv[1]), sys.argv[2]
    kolo.init()
    rank, size = kolo.rank(), kolo.size()
    rng = np.random.default_rng(12345)  # the same stream on every rank: same op sequence
    start = time.monotonic()
    warm_until = start + min(60.0, seconds / 5)
    baseline, samples, next_sample = None, [], 0.0
    ops = wrong = elements = 0
    step = 0
    while True:
        if step % 16 == 0:
            # Ranks' clocks differ: they agree on when to stop through one allreduce.
            late = np.array([time.monotonic() - start >= seconds], dtype=np.int32)
            if kolo.allreduce(late, op=kolo.Max, name="soak.stop")[0]:
                break
        # Every rank takes the same decisions (the shared rng), so names and shapes agree.
        batch = int(rng.integers(1, 9))
        pending = []
        for i in range(batch):
            dtype = DTYPES[int(rng.integers(len(DTYPES)))]
            itemsize = np.dtype(dtype).itemsize
            count = int(rng.integers(0, MAX_BYTES // itemsize + 1)) if rng.random() < 0.2 \
                else int(rng.integers(0, 4096))
            kind = ("allreduce", "allreduce", "allreduce", "allgather", "broadcast")[
                int(rng.integers(5))]
            opname, op = OPS[int(rng.integers(len(OPS)))]
            seed = step * 64 + i
            name = "soak.%d.%d" % (step % 97, i)  # names repeat: the response cache is used
            data = rank_data(seed, rank, count, dtype, opname)
            if kind == "allreduce":
                handle = kolo.allreduce_async(data, name=name, op=op)
                expected = lambda s=seed, c=count, d=dtype, o=opname: reference(s, size, c, d, o)
            elif kind == "allgather":
                handle = kolo.allgather_async(data, name=name)
                expected = lambda s=seed, c=count, d=dtype, o=opname: np.concatenate(
                    [rank_data(s, r, c, d, o) for r in range(size)])
            else:
                root = seed % size
                handle = kolo.broadcast_async(data, root, name=name)
                expected = lambda s=seed, c=count, d=dtype, o=opname, root=root: rank_data(
                    s, root, c, d, o)
            pending.append((handle, expected))
        for handle, expected in pending:
            out = kolo.synchronize(handle)
            ref = expected()
            ops += 1
            elements += ref.size
            if out.shape != ref.shape:
                wrong += max(ref.size, 1)
            else:
                wrong += int(np.count_nonzero(out.view(np.uint8) != ref.view(np.uint8)))
        step += 1
        now = time.monotonic()
        if baseline is None and now >= warm_until:
            baseline = resources()
        if baseline is not None and now >= next_sample:
            samples.append(dict(resources(), t=round(now - start, 1), ops=ops))
            next_sample = now + 2.0
    kolo.barrier()
    final = resources()
    kolo.shutdown()
    report = {"rank": rank, "size": size, "seconds": round(time.monotonic() - start, 1),
              "ops": ops, "elements": elements, "wrong": wrong, "baseline": baseline,
              "final": final, "samples": samples, "env": {k: v for k, v in os.environ.items()
                                                          if k.startswith("KOLO_ALLREDUCE")
                                                          or k.startswith("KOLO_FUSION")}}
    with open("%s.rank%d.json" % (prefix, rank), "w") as f:
        json.dump(report, f, indent=1)
    print("rank %d: %d ops, %d elements, #wrong %d, rss %s -> %s KiB, fds %s -> %s, "
          "threads %s -> %s" % (rank, ops, elements, wrong, baseline and baseline["rss_kib"],
                                final["rss_kib"], baseline and baseline["fds"], final["fds"],
                                baseline and baseline["threads"], final["threads"]))
    return 0 if wrong == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
