#!/usr/bin/python3
"""The step time of examples/torch_pipeline.py (2 pipeline stages x 2 data-parallel replicas,
GPipe micro-batches over send/recv, gradient all_reduce in subgroups) on Kolo's torch.distributed
backend against torch's gloo, same script and sizes, runs alternated, medians.

    bench/python/pipeline_step.py build/bin/kolorun [--rounds 3] [--steps 40] [--batch 256]
        [--micro 8] [--sizes 256 1024 64]

Prints each run's median step and, at the end, the median of the runs per backend and
gloo / kolo (above 1: Kolo is faster)."""

import argparse
import os
import re
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from launch_common import run_for_figure  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(ROOT, "examples", "torch_pipeline.py")
LINE = re.compile(r"pipeline step \((\w+)\): median ([0-9.]+) ms")


def run_once(args, backend, workdir):
    cmd = [args.kolorun, "-np", "4", "--timeout", "300", "--start-timeout", "120",
           "-x", "PYTHONPATH=" + os.path.join(os.path.dirname(os.path.dirname(args.kolorun)),
                                              "python"),
           "-x", "OMP_NUM_THREADS=1", "--", "/usr/bin/python3", EXAMPLE, "--no-check", "--time",
           "--backend", backend, "--steps", str(args.steps), "--batch", str(args.batch),
           "--micro", str(args.micro), "--sizes"] + [str(s) for s in args.sizes]
    if backend == "gloo":
        init = os.path.join(workdir, "gloo-init-%d" % len(os.listdir(workdir)))
        cmd += ["--init-file", init]
    return run_for_figure(cmd, LINE, "pipeline_step: the %s run" % backend, 360, group=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kolorun")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--micro", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs=3, default=[256, 1024, 64])
    args = parser.parse_args()
    medians = {"kolo": [], "gloo": []}
    with tempfile.TemporaryDirectory() as workdir:
        for round_ in range(args.rounds):
            for backend in ("kolo", "gloo") if round_ % 2 == 0 else ("gloo", "kolo"):
                ms = run_once(args, backend, workdir)
                medians[backend].append(ms)
                print("round %d %s: median step %.3f ms" % (round_, backend, ms), flush=True)
    kolo, gloo = (statistics.median(medians[b]) for b in ("kolo", "gloo"))
    print("pipeline step, median of %d runs: kolo %.3f ms, gloo %.3f ms, gloo / kolo %.2f"
          % (args.rounds, kolo, gloo, gloo / kolo))


if __name__ == "__main__":
    main()
