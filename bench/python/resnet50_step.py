"""One data-parallel gradient step from Python: Kolo against torch.distributed (gloo).

    build/bin/kolorun -np 2 -x PYTHONPATH=build/python \\
        /usr/bin/python3 bench/python/resnet50_step.py --json out.json

Every rank holds ResNet-50's 161 float32 gradients (shapes from bench/workloads/resnet50.txt,
allocated separately as autograd allocates them) and reduces them three ways in the same
processes:

  kolo           kolo.torch.allreduce_async_ per gradient in backward order (Average, as
                 DistributedOptimizer does), then synchronize every handle;
  torch async    torch.distributed.all_reduce(async_op=True) per gradient, then wait all;
  torch buckets  DDP's scheme: gradients packed in backward order into 25 MiB buckets
                 (preallocated, as DDP's are), each bucket flattened, all_reduce'd
                 asynchronously and unflattened once its reduction is waited for.

The torch variants sum (gloo has no average; DDP divides separately: that division is left
out, in torch's favour). A step's time is the slowest rank's; variants alternate in rounds so
that a noisy neighbour on the machine spreads over all of them. Timed steps run on zeros, as
kolo-bench's do; afterwards every variant runs one step on a rank-dependent pattern, checked
element by element against the exact result, and any wrong element makes the exit status 1.
torch.distributed is set up through env:// from what kolorun exports (MASTER_ADDR,
MASTER_PORT, RANK, WORLD_SIZE); --master-port overrides the port.
"""

import argparse
import os
import sys
import time

import torch
import torch.distributed as dist

import kolo.torch as kt
from bench_common import (parse_variants, read_workload, slowest, summarize, timed,
                          total_over_ranks, workload_path, write_json)

VARIANTS = ("kolo", "torch_async", "torch_buckets")
_PATTERN_PERIOD = 97  # pattern values stay small integers: every sum and average is exact


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="resnet50", help="name in bench/workloads or a file")
    p.add_argument("--steps", type=int, default=30, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per variant first")
    p.add_argument("--rounds", type=int, default=3,
                   help="the timed steps are split into this many rounds, variants alternating")
    p.add_argument("--bucket-mb", type=float, default=25.0, help="DDP bucket cap in MiB")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="comma list of " + ", ".join(VARIANTS))
    p.add_argument("--master-port", type=int, help="port for torch.distributed (default: "
                   "MASTER_PORT from kolorun)")
    p.add_argument("--json", help="rank 0 writes the figures here")
    args = p.parse_args()
    args.variants = parse_variants(p, args.variants, VARIANTS)
    if args.steps < 1 or args.rounds < 1 or args.warmup < 0:
        p.error("--steps and --rounds must be positive, --warmup non-negative")
    return args


def init_torch_distributed(master_port):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    if master_port is not None:
        os.environ["MASTER_PORT"] = str(master_port)
    if "MASTER_PORT" not in os.environ:
        sys.exit("resnet50_step.py: no MASTER_PORT (start under kolorun or pass --master-port)")
    dist.init_process_group("gloo", init_method="env://", rank=kt.rank(),
                            world_size=kt.size())


def ddp_buckets(grads, cap_bytes):
    """Gradient indices grouped in backward order into buckets of at most cap_bytes (a
    gradient larger than the cap gets a bucket of its own), as DDP's reducer forms them."""
    buckets, current, used = [], [], 0
    for i, g in enumerate(grads):
        nbytes = g.numel() * g.element_size()
        if current and used + nbytes > cap_bytes:
            buckets.append(current)
            current, used = [], 0
        current.append(i)
        used += nbytes
    if current:
        buckets.append(current)
    return buckets


class Steps:
    """One step of each variant over the same gradients."""

    def __init__(self, shapes, names, bucket_bytes):
        self.grads = [torch.zeros(s, dtype=torch.float32) for s in shapes]
        self.names = list(names)
        self.buckets = ddp_buckets(self.grads, bucket_bytes)
        self.flat = [torch.empty(sum(self.grads[i].numel() for i in b), dtype=torch.float32)
                     for b in self.buckets]
        self.submit_ms = []  # kolo: time to issue every allreduce_async_, per step

    def kolo(self):
        start = time.perf_counter_ns()
        handles = [kt.allreduce_async_(g, name=n, op=kt.Average)
                   for g, n in zip(self.grads, self.names)]
        self.submit_ms.append((time.perf_counter_ns() - start) / 1e6)
        for h in handles:
            kt.synchronize(h)

    def torch_async(self):
        works = [dist.all_reduce(g, async_op=True) for g in self.grads]
        for w in works:
            w.wait()

    def torch_buckets(self):
        works = []
        for bucket, flat in zip(self.buckets, self.flat):
            torch.cat([self.grads[i].view(-1) for i in bucket], out=flat)
            works.append(dist.all_reduce(flat, async_op=True))
        for bucket, flat, work in zip(self.buckets, self.flat, works):
            work.wait()
            offset = 0
            for i in bucket:
                g = self.grads[i]
                g.view(-1).copy_(flat[offset:offset + g.numel()])
                offset += g.numel()

    def fill(self, value_of):
        for t, g in enumerate(self.grads):
            g.view(-1).copy_(value_of(t, g.numel()))


def pattern(t, numel):
    return ((torch.arange(numel, dtype=torch.int64) + t) % _PATTERN_PERIOD).to(torch.float32)


def check(steps, variant, rank, size):
    """Runs one step of `variant` on rank-dependent inputs; returns the wrong elements."""
    steps.fill(lambda t, n: pattern(t, n) + float(rank + 1))
    getattr(steps, variant)()
    rank_sum = float(size * (size + 1) // 2)
    wrong = 0
    for t, g in enumerate(steps.grads):
        if variant == "kolo":
            expected = pattern(t, g.numel()) + rank_sum / size  # average
        else:
            expected = pattern(t, g.numel()) * size + rank_sum
        wrong += int((g.view(-1) != expected).sum())
    steps.fill(lambda t, n: torch.zeros(n, dtype=torch.float32))
    return wrong


def main():
    args = parse_args()
    kt.init()
    rank, size = kt.rank(), kt.size()
    if any(v.startswith("torch") for v in args.variants):
        init_torch_distributed(args.master_port)
    tensors = read_workload(workload_path(args.workload))
    steps = Steps([s for _, s in tensors], [n for n, _ in tensors],
                  int(args.bucket_mb * 1024 * 1024))

    per_round = [args.steps // args.rounds + (1 if r < args.steps % args.rounds else 0)
                 for r in range(args.rounds)]
    local = {v: [] for v in args.variants}
    submit_ms = []  # kolo's timed steps only
    for r, count in enumerate(per_round):
        for v in args.variants:
            kt.barrier()
            # The first round warms up; later ones take one untimed step, since the variants
            # before it left other data in the caches.
            issued = len(steps.submit_ms)
            local[v] += timed(getattr(steps, v), count, args.warmup if r == 0 else 1)
            if v == "kolo":
                submit_ms += steps.submit_ms[issued:][-count:]

    wrong = {v: total_over_ranks(check(steps, v, rank, size), "wrong." + v)
             for v in args.variants}
    results = {v: summarize(slowest(local[v], v)) for v in args.variants}
    if "kolo" in args.variants:
        results["kolo"]["submit_median_ms"] = summarize(
            slowest(submit_ms, "kolo.submit"))["median"]

    nbytes = sum(g.numel() * g.element_size() for g in steps.grads)
    if rank == 0:
        print("# %s gradient step from Python: %d float32 tensors, %.1f MB per rank, %d ranks;"
              % (args.workload, len(steps.grads), nbytes / 1e6, size))
        print("# %d timed steps per variant in %d rounds after %d warmup; DDP buckets: %d of "
              "at most %g MiB; torch %s, %d intra-op threads" %
              (args.steps, args.rounds, args.warmup, len(steps.buckets), args.bucket_mb,
               torch.__version__, torch.get_num_threads()))
        print("# %-16s %10s %9s %9s %9s %8s %7s" % ("variant", "median(ms)", "p10", "p90",
                                                    "min", "GB/s", "#wrong"))
        for v in args.variants:
            s = results[v]
            print("  %-16s %10.2f %9.2f %9.2f %9.2f %8.2f %7d" %
                  (v, s["median"], s["p10"], s["p90"], s["min"], nbytes / s["median"] / 1e6,
                   wrong[v]))
        if "kolo" in args.variants:
            print("# kolo: issuing the %d allreduce_async_ calls took %.2f ms of the step "
                  "(median)" % (len(steps.grads), results["kolo"]["submit_median_ms"]))
        write_json(args.json, {
            "workload": args.workload, "tensors": len(steps.grads), "bytes": nbytes,
            "world_size": size, "steps": args.steps, "warmup": args.warmup,
            "rounds": args.rounds, "buckets": len(steps.buckets), "bucket_mb": args.bucket_mb,
            "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
            "unit": "ms", "results": results, "wrong": wrong})
    if any(v.startswith("torch") for v in args.variants):
        dist.destroy_process_group()
    kt.shutdown()
    return 1 if any(wrong.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
