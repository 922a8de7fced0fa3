"""What the Python benchmarks share: workload files, per-step timing, the slowest rank's time.

Times follow kolo-bench's convention, so the Python and C++ figures compare directly: each
rank times every iteration itself, the iteration's time is the slowest rank's (an elementwise
maximum over ranks, reduced through Kolo after the timed region), and a figure is the median
over iterations.
"""

import json
import os
import statistics
import time

import numpy as np

import kolo

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_workload(path):
    """[(name, shape)] from a kolo-bench workload file (`name dim0xdim1x...` per line)."""
    tensors = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 2:
                raise ValueError("%s:%d: expected 'name dim0xdim1...', got %r" %
                                 (path, number, line))
            tensors.append((fields[0], tuple(int(d) for d in fields[1].split("x"))))
    if not tensors:
        raise ValueError("%s: no tensors" % path)
    return tensors


def workload_path(name_or_path):
    if os.path.exists(name_or_path):
        return name_or_path
    return os.path.join(REPO_ROOT, "bench", "workloads", name_or_path + ".txt")


def timed(fn, iterations, warmup=0, unit_ns=1e6):
    """Runs fn warmup + iterations times; returns this rank's times of the timed calls
    (milliseconds by default; unit_ns=1e3 gives microseconds)."""
    for _ in range(warmup):
        fn()
    clock = time.perf_counter_ns
    times = []
    for _ in range(iterations):
        start = clock()
        fn()
        times.append((clock() - start) / unit_ns)
    return times


def slowest(times, tag):
    """Elementwise maximum of every rank's per-iteration times (same count on every rank)."""
    local = np.asarray(times, dtype=np.float64)
    return kolo.allreduce(local, op=kolo.Max, name="pybench.times." + tag).tolist()


def total_over_ranks(value, tag):
    return int(kolo.allreduce(np.asarray([value], dtype=np.int64), op=kolo.Sum,
                              name="pybench.sum." + tag)[0])


def summarize(times):
    """Median, spread and extremes of a list of per-iteration times."""
    ordered = sorted(times)

    def quantile(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"median": statistics.median(ordered), "p10": quantile(0.10),
            "p90": quantile(0.90), "min": ordered[0], "max": ordered[-1],
            "count": len(ordered)}


def write_json(path, data):
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def parse_variants(parser, text, known):
    """The --variants comma list, checked against the variants a script knows."""
    variants = [v for v in text.split(",") if v]
    unknown = set(variants) - set(known)
    if unknown:
        parser.error("unknown variants %s" % ", ".join(sorted(unknown)))
    return variants

