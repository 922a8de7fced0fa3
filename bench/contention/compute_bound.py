#!/usr/bin/python3
"""A compute-bound training run on Kolo against torch DistributedDataParallel on gloo.

examples/torch_synthetic.py trains the same model on both (`--backend kolo|gloo`), every core
used by torch: OMP_NUM_THREADS = cores / ranks. Runs alternate between the backends; each run
reports the job's images/sec (the sum over ranks of each rank's mean rate); the figure is the
median of the runs.

    bench/contention/compute_bound.py build/bin/kolorun [--np 2] [--model resnet18]
        [--batch 16] [--rounds 3] [--iterations 5] [--intervals 3] [--background N]

--background N adds N busy processes (bench/contention/under_load.py) to both backends' runs.
Prints each run and, at the end, the medians and kolo / gloo (above 1: Kolo is faster)."""

import argparse
import os
import re
import statistics
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "bench", "python"))
from launch_common import run_for_figure  # noqa: E402
from under_load import BusyProcesses  # noqa: E402

EXAMPLE = os.path.join(ROOT, "examples", "torch_synthetic.py")
TOTAL = re.compile(r"total over \d+ ranks: ([0-9.]+) images/sec")


def run_once(args, backend, workdir):
    threads = max(1, len(os.sched_getaffinity(0)) // args.np)
    python_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(args.kolorun))),
                              "python")
    cmd = [args.kolorun, "-np", str(args.np), "--timeout", "600", "-x", "PYTHONPATH=" + python_dir,
           "-x", "OMP_NUM_THREADS=%d" % threads, "--", "/usr/bin/python3", EXAMPLE,
           "--model", args.model, "--batch-size", str(args.batch), "--iterations",
           str(args.iterations), "--intervals", str(args.intervals), "--backend", backend]
    if backend == "gloo":  # gloo's ranks never join kolorun's store: no start deadline
        cmd[1:1] = ["--start-timeout", "0"]
        # A fresh name every run: torch's FileStore removes its file when the group ends, so
        # counting the directory's files could hand a later run a name still in use.
        cmd += ["--init-file", os.path.join(workdir, "gloo-init-%s" % uuid.uuid4().hex)]
    return run_for_figure(cmd, TOTAL, "compute_bound: the %s run" % backend, 700)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kolorun")
    parser.add_argument("--np", type=int, default=2)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--intervals", type=int, default=3)
    parser.add_argument("--background", type=int, default=0)
    args = parser.parse_args()
    rates = {"kolo": [], "gloo": []}
    with tempfile.TemporaryDirectory() as workdir, BusyProcesses(args.background):
        for round_ in range(args.rounds):
            for backend in ("kolo", "gloo") if round_ % 2 == 0 else ("gloo", "kolo"):
                rate = run_once(args, backend, workdir)
                rates[backend].append(rate)
                print("run %d %s: %.2f images/sec" % (round_ + 1, backend, rate), flush=True)
    kolo, gloo = (statistics.median(rates[b]) for b in ("kolo", "gloo"))
    print("%s, batch %d, np %d, %d busy processes, median of %d runs: kolo %.2f, gloo DDP %.2f "
          "images/sec, kolo / gloo %.2f" % (args.model, args.batch, args.np, args.background,
                                            args.rounds, kolo, gloo, kolo / gloo))


if __name__ == "__main__":
    main()
