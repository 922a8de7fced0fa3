"""Summary of several bench/python/sharded_step.py runs (their --json files): per variant the
median over runs of each run's median step, forward+backward and total time, then the issue's
targets for ShardedOptimizer: a training step at least 4x faster than torch's
ZeroRedundancyOptimizer on gloo, and at most 1.15x Kolo's own DistributedOptimizer step.

    /usr/bin/python3 bench/python/sharded_summary.py run1.json run2.json run3.json
"""

import json
import statistics
import sys


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    first = runs[0]
    print("np=%d, %d float32 parameters (%.1f MiB), Adam, batch %d; median of %d run(s)"
          % (first["np"], first["parameters"], first["parameters"] * 4 / 2**20,
             first["batch"], len(runs)))
    print("%-12s %12s %12s %12s   %s" % ("variant", "fwd+bwd ms", "step ms", "total ms",
                                         "total per run"))
    med = {}
    for v in first["variants"]:
        per = {k: [r["variants"][v][k]["median"] for r in runs]
               for k in ("fwd_bwd_ms", "step_ms", "total_ms")}
        med[v] = {k: statistics.median(x) for k, x in per.items()}
        print("%-12s %12.2f %12.2f %12.2f   %s" % (
            v, med[v]["fwd_bwd_ms"], med[v]["step_ms"], med[v]["total_ms"],
            ", ".join("%.1f" % t for t in per["total_ms"])))
    for v in ("kolo_zero1", "kolo_zero2"):
        if v not in med:
            continue
        if "torch_zero" in med:
            for k in ("total_ms", "step_ms"):
                x = med["torch_zero"][k] / med[v][k]
                print("%s %s speedup over torch_zero: %.2fx (target >= 4x: %s)"
                      % (v, k[:-3], x, "met" if x >= 4 else "missed"))
        if "kolo_ddp" in med:
            for k in ("total_ms", "step_ms"):
                x = med[v][k] / med["kolo_ddp"][k]
                print("%s %s / kolo_ddp: %.2f (target <= 1.15: %s)"
                      % (v, k[:-3], x, "met" if x <= 1.15 else "missed"))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
