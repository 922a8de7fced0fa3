"""Allreduce bus bandwidth, Kolo against torch.distributed on gloo, in the same processes.

    build/bin/kolorun -H "$CLUSTER_HOSTS" -x PYTHONPATH=build/python:bench/python \\
        /usr/bin/python3 bench/python/gloo_allreduce.py -b 1M -e 64M -f 8

Every rank allreduces one float32 tensor of each size (sum, in place) with
kolo.torch.allreduce_ and with torch.distributed.all_reduce on a gloo process group, the two
alternating in rounds so that a load drift on the machine hits both. An iteration's time is the
slowest rank's; the figure is the median over the iterations, and busbw is
2 (n - 1) / n x bytes / time (the ring's traffic per rank, as kolo-bench reports it). Before
timing, each library reduces a rank-dependent pattern once and every element is checked against
the exact sum (exit status 1 on a wrong element). torch.distributed is set up through env://
from what kolorun exports (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE).
"""

import argparse
import os
import statistics
import sys

import torch
import torch.distributed as dist

import kolo.torch as kt
from bench_common import slowest, timed


def parse_bytes(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text and text[-1].upper() in units:
        return int(float(text[:-1]) * units[text[-1].upper()])
    return int(text)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-b", "--begin", default="1M", help="smallest size in bytes (1M)")
    p.add_argument("-e", "--end", default="64M", help="largest size in bytes (64M)")
    p.add_argument("-f", "--factor", type=int, default=8, help="size multiplier per step")
    p.add_argument("-n", "--iterations", type=int, default=10, help="timed per round")
    p.add_argument("-w", "--warmup", type=int, default=2, help="untimed per round")
    p.add_argument("--rounds", type=int, default=3, help="rounds, the libraries alternating")
    args = p.parse_args()
    args.begin, args.end = parse_bytes(args.begin), parse_bytes(args.end)
    if args.begin < 4 or args.end < args.begin or args.factor < 2:
        p.error("need 4 <= begin <= end and factor >= 2")
    return args


def check(reduce, name, n, rank, size):
    t = torch.arange(n, dtype=torch.float32) % 97 + rank
    reduce(t)
    want = (torch.arange(n, dtype=torch.float32) % 97) * size + size * (size - 1) / 2
    if not torch.equal(t, want):
        bad = int((t != want).nonzero()[0])
        sys.exit(f"gloo_allreduce.py: {name} on {n} floats: element {bad} is {t[bad].item()}, "
                 f"expected {want[bad].item()}")


def main():
    args = parse_args()
    kt.init()
    rank, size = kt.rank(), kt.size()
    if "MASTER_PORT" not in os.environ:
        sys.exit("gloo_allreduce.py: no MASTER_PORT (start it under kolorun)")
    dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=size)
    libraries = {
        "kolo": lambda t: kt.allreduce_(t, name=f"gloo_bench.{t.numel()}", op=kt.Sum),
        "gloo": lambda t: dist.all_reduce(t),
    }
    if rank == 0:
        print(f"# {size} ranks, float32 sum in place, median of {args.rounds} x "
              f"{args.iterations} iterations (slowest rank), busbw in GB/s")
        print(f"{'bytes':>10} {'kolo ms':>9} {'kolo busbw':>10} {'gloo ms':>9} "
              f"{'gloo busbw':>10} {'kolo/gloo':>9}")
    nbytes = args.begin
    while nbytes <= args.end:
        n = nbytes // 4
        for name, reduce in libraries.items():
            check(reduce, name, n, rank, size)
        tensor = torch.zeros(n, dtype=torch.float32)
        times = {name: [] for name in libraries}
        for r in range(args.rounds):
            for name, reduce in libraries.items():
                local = timed(lambda: reduce(tensor), args.iterations, args.warmup)
                times[name] += slowest(local, f"{name}.{nbytes}.{r}")
        if rank == 0:
            row = {}
            for name in libraries:
                ms = statistics.median(times[name])
                row[name] = (ms, 2 * (size - 1) / size * nbytes / (ms * 1e-3) / 1e9)
            print(f"{nbytes:>10} {row['kolo'][0]:>9.3f} {row['kolo'][1]:>10.3f} "
                  f"{row['gloo'][0]:>9.3f} {row['gloo'][1]:>10.3f} "
                  f"{row['kolo'][1] / row['gloo'][1]:>9.2f}", flush=True)
        nbytes *= args.factor
    dist.destroy_process_group()
    kt.shutdown()


if __name__ == "__main__":
    main()
