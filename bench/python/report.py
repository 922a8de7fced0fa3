"""Summary of bench/python/run.sh: Python against C++ and torch.distributed, with targets.

    /usr/bin/python3 bench/python/report.py OUTDIR REPS

Reads OUTDIR/raw/{cpp_resnet50,py_resnet50,cpp_small,py_small}_<rep>.json, prints the tables
(each figure the median over the repetitions, the single runs beside it) and writes
OUTDIR/python_bench.json. Exit status 1 when any run counted a wrong element.
"""

import json
import os
import statistics
import sys

# The Python adapter's targets (docs/PERFORMANCE.md).
MIN_SPEEDUP_OVER_TORCH = 4.0
MAX_RATIO_TO_CPP = 1.1
MAX_SMALL_GAP_US = 20.0


def load(raw, name, reps):
    return [json.load(open(os.path.join(raw, "%s_%d.json" % (name, r))))
            for r in range(1, reps + 1)]


def med(values):
    return statistics.median(values)


def runs(values, fmt="%.2f"):
    return ", ".join(fmt % v for v in values)


def verdict(ok):
    return "met" if ok else "NOT met"


def main():
    out, reps = sys.argv[1], int(sys.argv[2])
    raw = os.path.join(out, "raw")
    cpp_step = [r["kolo"]["median_ms"] for r in load(raw, "cpp_resnet50", reps)]
    py_runs = load(raw, "py_resnet50", reps)
    cpp_small = [r["results"][0]["median_us"] for r in load(raw, "cpp_small", reps)]
    small_runs = load(raw, "py_small", reps)
    wrong = sum(r.get("wrong", 0) for r in load(raw, "cpp_resnet50", reps))
    wrong += sum(r["results"][0].get("wrong", 0) for r in load(raw, "cpp_small", reps))
    wrong += sum(sum(r["wrong"].values()) for r in py_runs + small_runs)

    summary = {"reps": reps, "resnet50": {}, "small_allreduce": {}, "wrong": wrong}
    first = py_runs[0]
    print("## ResNet-50 gradient step, np=%d: %d float32 tensors, %.1f MB per rank "
          "(ms per step, median of %d runs of %d steps)" %
          (first["world_size"], first["tensors"], first["bytes"] / 1e6, reps, first["steps"]))
    print("%-40s %10s %12s %9s   %s" % ("variant", "ms/step", "x kolo py", "best", "runs"))
    cpp_runs = load(raw, "cpp_resnet50", reps)
    rows = [("kolo C++ (kolo-bench --workload)", cpp_step,
             [r["kolo"]["min_ms"] for r in cpp_runs])]
    labels = {"kolo": "kolo Python (allreduce_async_)",
              "torch_async": "torch gloo, async per tensor",
              "torch_buckets": "torch gloo, DDP 25 MiB buckets"}
    for key in ("kolo", "torch_async", "torch_buckets"):
        if key in first["results"]:
            rows.append((labels[key], [r["results"][key]["median"] for r in py_runs],
                         [r["results"][key]["min"] for r in py_runs]))
    py_kolo = med([r["results"]["kolo"]["median"] for r in py_runs])
    # best: the fastest step of a run (median over runs), what a step costs undisturbed on a
    # machine shared with other work.
    for label, values, best in rows:
        print("%-40s %10.2f %12.2f %9.2f   %s" % (label, med(values), med(values) / py_kolo,
                                                  med(best), runs(values)))
        summary["resnet50"][label] = {"median_ms": med(values), "runs_ms": values,
                                      "best_ms": med(best)}
    submit = med([r["results"]["kolo"]["submit_median_ms"] for r in py_runs])
    print("kolo Python: issuing the allreduce_async_ calls takes %.2f ms of the step" % submit)
    torch_keys = [k for k in ("torch_async", "torch_buckets") if k in first["results"]]
    if torch_keys:
        # Per run, the faster torch variant against Kolo in that same run.
        speedups = [min(r["results"][k]["median"] for k in torch_keys) /
                    r["results"]["kolo"]["median"] for r in py_runs]
        print("kolo Python speedup over the faster torch variant: %.2fx (runs: %s; target >= "
              "%.0fx: %s)" % (med(speedups), runs(speedups), MIN_SPEEDUP_OVER_TORCH,
                             verdict(med(speedups) >= MIN_SPEEDUP_OVER_TORCH)))
        summary["resnet50"]["speedup_over_faster_torch"] = med(speedups)
    ratios = [r["results"]["kolo"]["median"] / c for r, c in zip(py_runs, cpp_step)]
    best_ratios = [r["results"]["kolo"]["min"] / c["kolo"]["min_ms"]
                   for r, c in zip(py_runs, cpp_runs)]
    print("kolo Python / kolo C++: %.3f (runs: %s; target <= %.1f: %s); best steps: %.3f" %
          (med(ratios), runs(ratios, "%.3f"), MAX_RATIO_TO_CPP,
           verdict(med(ratios) <= MAX_RATIO_TO_CPP), med(best_ratios)))
    summary["resnet50"]["python_over_cpp"] = med(ratios)
    summary["resnet50"]["python_over_cpp_best"] = med(best_ratios)
    summary["resnet50"]["submit_ms"] = submit

    print("\n## 8-byte allreduce per call, np=%d (us, median of %d runs of %d calls; gap: "
          "Python minus C++ runtime path)" % (small_runs[0]["world_size"], reps,
                                             small_runs[0]["iters"]))
    print("%-40s %10s %10s   %s" % ("entry point", "us/call", "gap(us)", "runs"))
    print("%-40s %10.2f %10s   %s" % ("C++ runtime (kolo-bench --path runtime)", med(cpp_small),
                                      "-", runs(cpp_small)))
    summary["small_allreduce"]["cpp_runtime_us"] = med(cpp_small)
    small_labels = {"numpy": "kolo.allreduce (NumPy)", "torch": "kolo.torch.allreduce",
                    "torch_inplace": "kolo.torch.allreduce_"}
    worst_gap = 0.0
    for key, label in small_labels.items():
        if key not in small_runs[0]["results"]:
            continue
        values = [r["results"][key]["median"] for r in small_runs]
        gap = med(values) - med(cpp_small)
        worst_gap = max(worst_gap, gap)
        print("%-40s %10.2f %10.2f   %s" % (label, med(values), gap, runs(values)))
        summary["small_allreduce"][key] = {"median_us": med(values), "gap_us": gap,
                                           "runs_us": values}
    print("largest gap to C++: %.2f us (target <= %.0f us: %s)" %
          (worst_gap, MAX_SMALL_GAP_US, verdict(worst_gap <= MAX_SMALL_GAP_US)))
    print("\nwrong elements over every run: %d" % wrong)
    with open(os.path.join(out, "python_bench.json"), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
