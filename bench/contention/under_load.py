#!/usr/bin/python3
"""Kolo against Open MPI while other processes keep the cores busy.

Training processes never have the machine to themselves: data-loader workers, the framework's
intra-op threads and other ranks fill the cores. This script adds that load on purpose: N busy
processes (`while :; do :; done`, the load of docs/PERFORMANCE.md "Under load"), process i
pinned to core i mod ncores as a pinned data-loader worker would be.

  bench/contention/under_load.py --background N -- COMMAND...
      runs COMMAND with N busy processes beside it and removes them after (also on failure
      or Ctrl-C); the exit status is COMMAND's.

  bench/contention/under_load.py table [--build build] [--runs 3] [--loads 0,1,2] [--np 2]
      [--spin auto|on|off]
      regenerates the "Under load" table: for each load and each run, the ResNet-50 and
      BERT-base workload steps (`kolo-bench --workload W --compare mpi` under mpirun: Kolo's
      runtime step, then Open MPI's MPI_Allreduce per tensor on the same tensors, same load)
      and the 8-byte allreduce through the runtime (against MPI_Allreduce of 8 bytes). Loads
      alternate inside each run so drifting machine load hits every row alike. Prints a Markdown
      table of medians and of the per-run Kolo / Open MPI ratios; --json keeps every run.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUSY_LOOP = ["sh", "-c", "while :; do :; done"]


class BusyProcesses:
    """N processes that spin forever, pinned round-robin to the cores; killed on exit."""

    def __init__(self, count, pin=True):
        self.count = count
        self.pin = pin
        self.procs = []

    def __enter__(self):
        cores = sorted(os.sched_getaffinity(0))
        for i in range(self.count):
            # Same session as the benchmark (a child, like a data-loader worker): with the kernel's
            # autogroup scheduling a new session would get a CPU share of its own.
            proc = subprocess.Popen(BUSY_LOOP)
            if self.pin:
                os.sched_setaffinity(proc.pid, {cores[i % len(cores)]})
            self.procs.append(proc)
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.kill()
            proc.wait()
        self.procs = []
        return False


SPIN = []  # ["-x", "KOLO_SPIN=on"] with --spin on


def mpirun(np, args, build):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = ["mpirun", "--bind-to", "none", "-np", str(np)] + SPIN + [
        os.path.join(build, "bin", "kolo-bench")] + args
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        done = subprocess.run(cmd + ["--json", out.name], env=env, capture_output=True,
                              text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), done.returncode,
                                                          done.stdout[-3000:], done.stderr[-3000:]))
        with open(out.name) as f:
            return json.load(f)


def measure_workload(name, np, build, iters, warmup):
    j = mpirun(np, ["--workload", name, "-n", str(iters), "-w", str(warmup), "--compare", "mpi"],
               build)
    return j["median_step_ms"], j["mpi_per_tensor"]["median_ms"]


def measure_small(np, build):
    j = mpirun(np, ["allreduce", "--path", "runtime", "-b", "8", "-e", "8", "-n", "2000",
                    "-w", "200", "--inplace", "0", "--compare", "mpi"], build)
    row = j["results"][0]["out_of_place"]
    return row["median_us"], j["results"][0]["mpi_median_us"]


def run_table(args):
    loads = [int(x) for x in args.loads.split(",")]
    rows = {}  # (bench, load) -> list of (kolo, mpi)
    benches = [(w, "ms") for w in args.workloads.split(",") if w] + [("8-byte allreduce", "us")]
    for run in range(args.runs):
        order = loads if run % 2 == 0 else list(reversed(loads))
        for load in order:
            with BusyProcesses(load, pin=not args.no_pin):
                for bench, _ in benches:
                    if bench == "8-byte allreduce":
                        pair = measure_small(args.np, args.build)
                    else:
                        pair = measure_workload(bench, args.np, args.build, args.iters,
                                                args.warmup)
                    rows.setdefault((bench, load), []).append(pair)
                    print("# run %d, load %d, %s: kolo %.2f, mpi %.2f" % (run + 1, load, bench,
                          pair[0], pair[1]), file=sys.stderr, flush=True)
    print_table(rows, benches, loads, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"bench": b, "load": l, "runs": [{"kolo": k, "mpi": m} for k, m in v]}
                       for (b, l), v in rows.items()], f, indent=1)


def print_table(rows, benches, loads, args):
    print("np=%d, %d runs per cell, busy processes %spinned%s; medians, Kolo / Open MPI per run"
          % (args.np, args.runs, "not " if args.no_pin else "",
             ", KOLO_SPIN=" + args.spin if args.spin else ""))
    print()
    print("| benchmark | busy processes | Kolo | Open MPI | Kolo / Open MPI (median of runs) "
          "| Kolo / its idle |")
    print("| --- | --- | --- | --- | --- | --- |")
    for bench, unit in benches:
        idle = None
        for load in loads:
            pairs = rows[(bench, load)]
            kolo = statistics.median(k for k, _ in pairs)
            mpi = statistics.median(m for _, m in pairs)
            ratio = statistics.median(k / m for k, m in pairs)
            if load == 0:
                idle = kolo
            vs_idle = "%.2f" % (kolo / idle) if idle else "-"
            print("| %s | %d | %.2f %s | %.2f %s | %.2f | %s |" % (bench, load, kolo, unit, mpi,
                                                                  unit, ratio, vs_idle))


def main():
    argv = sys.argv[1:]
    if "--" in argv:
        split = argv.index("--")
        p = argparse.ArgumentParser(description="run COMMAND beside N busy processes")
        p.add_argument("--background", type=int, required=True)
        p.add_argument("--no-pin", action="store_true")
        opts = p.parse_args(argv[:split])
        with BusyProcesses(opts.background, pin=not opts.no_pin):
            return subprocess.call(argv[split + 1:])
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["table"])
    p.add_argument("--build", default=os.path.join(REPO, "build"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--loads", default="0,1,2")
    p.add_argument("--workloads", default="resnet50,bert-base")
    p.add_argument("--np", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--spin", choices=["auto", "on", "off"],
                   help="KOLO_SPIN for Kolo's ranks (default: the environment's)")
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.spin:
        SPIN[:] = ["-x", "KOLO_SPIN=" + args.spin]
    run_table(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
