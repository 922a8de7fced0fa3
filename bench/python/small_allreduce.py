"""The Python adapters' cost per call: an 8-byte allreduce, timed call by call.

    build/bin/kolorun -np 2 -x PYTHONPATH=build/python \\
        /usr/bin/python3 bench/python/small_allreduce.py --json out.json

The same call kolo-bench times through the C++ runtime (`kolo-bench allreduce --path runtime
-b 8 -e 8`: two float32, sum, one name so every call hits the response cache), through each
Python entry point:

  numpy          kolo.allreduce(array)            (a new array)
  torch          kolo.torch.allreduce(tensor)     (a new tensor, through autograd)
  torch_inplace  kolo.torch.allreduce_(tensor)    (in place)

Each call is timed on its own rank; a call's time is the slowest rank's, and the figure is the
median over calls, as in kolo-bench. Variants alternate in rounds. Afterwards one call of each
is checked against the exact result.
"""

import argparse
import sys

import numpy as np
import torch

import kolo
import kolo.torch as kt
from bench_common import (parse_variants, slowest, summarize, timed, total_over_ranks,
                          write_json)

VARIANTS = ("numpy", "torch", "torch_inplace")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--iters", type=int, default=5000, help="timed calls per variant")
    p.add_argument("-w", "--warmup", type=int, default=500, help="untimed calls first")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--json", help="rank 0 writes the figures here")
    args = p.parse_args()
    args.variants = parse_variants(p, args.variants, VARIANTS)
    if args.iters < 1 or args.rounds < 1 or args.warmup < 0:
        p.error("--iters and --rounds must be positive, --warmup non-negative")
    return args


def calls():
    """Each variant's call on zeros (in-place sums of zeros stay zeros), and its checked call
    on `value`, returning the result as a NumPy array."""
    array = np.zeros(2, dtype=np.float32)
    tensor = torch.zeros(2, dtype=torch.float32)
    inplace = torch.zeros(2, dtype=torch.float32)
    run = {
        "numpy": lambda: kolo.allreduce(array, op=kolo.Sum, name="pybench.numpy8"),
        "torch": lambda: kt.allreduce(tensor, op=kt.Sum, name="pybench.torch8"),
        "torch_inplace": lambda: kt.allreduce_(inplace, op=kt.Sum, name="pybench.inplace8"),
    }

    def numpy_checked(value):
        return kolo.allreduce(np.full(2, value, np.float32), op=kolo.Sum, name="pybench.numpy8")

    def torch_checked(value):
        return kt.allreduce(torch.full((2,), value), op=kt.Sum, name="pybench.torch8").numpy()

    def inplace_checked(value):
        t = torch.full((2,), value)
        kt.allreduce_(t, op=kt.Sum, name="pybench.inplace8")
        return t.numpy()
    checked = {"numpy": numpy_checked, "torch": torch_checked, "torch_inplace": inplace_checked}
    return run, checked


def main():
    args = parse_args()
    kt.init()
    rank, size = kt.rank(), kt.size()
    run, checked = calls()
    per_round = [args.iters // args.rounds + (1 if r < args.iters % args.rounds else 0)
                 for r in range(args.rounds)]
    local = {v: [] for v in args.variants}
    for r, count in enumerate(per_round):
        for v in args.variants:
            kt.barrier()
            local[v] += timed(run[v], count, args.warmup if r == 0 else 10, unit_ns=1e3)

    expected = float(size * (size + 1) // 2)
    wrong = {v: total_over_ranks(int((checked[v](float(rank + 1)) != expected).sum()),
                                 "wrong8." + v)
             for v in args.variants}
    results = {v: summarize(slowest(local[v], "small." + v)) for v in args.variants}
    if rank == 0:
        print("# 8-byte allreduce (2 x float32, sum) from Python, %d ranks, one name per "
              "variant; %d timed calls per variant in %d rounds after %d warmup"
              % (size, args.iters, args.rounds, args.warmup))
        print("# %-16s %10s %9s %9s %9s %7s" % ("variant", "median(us)", "p10", "p90", "min",
                                                "#wrong"))
        for v in args.variants:
            s = results[v]
            print("  %-16s %10.2f %9.2f %9.2f %9.2f %7d" %
                  (v, s["median"], s["p10"], s["p90"], s["min"], wrong[v]))
        write_json(args.json, {"world_size": size, "iters": args.iters, "warmup": args.warmup,
                               "rounds": args.rounds, "unit": "us", "results": results,
                               "wrong": wrong})
    kt.shutdown()
    return 1 if any(wrong.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
