"""A training step with Kolo's ShardedOptimizer against its DistributedOptimizer and against
torch's ZeroRedundancyOptimizer over DDP on gloo, on the same model in the same processes.

    build/bin/kolorun -np 2 -x PYTHONPATH=build/python:bench/python \\
        /usr/bin/python3 bench/python/sharded_step.py --json out.json

Variants (each its own copy of one MLP, Adam, the same batch every step):

  kolo_ddp       kolo.torch.DistributedOptimizer: allreduce per gradient during backward;
  kolo_zero1     kolo.torch.ShardedOptimizer(stage=1): reducescatter per bucket during
                 backward, shard update, allgather in step();
  kolo_zero2     the same with stage=2 (full gradients freed once packed);
  torch_zero     torch.nn.parallel.DistributedDataParallel (gloo, 25 MiB buckets) with
                 torch.distributed.optim.ZeroRedundancyOptimizer: allreduce during backward,
                 shard update, one broadcast per rank's parameters in step().

Per iteration each rank times forward+backward and step() separately; an iteration's time is
the slowest rank's, a figure the median (bench_common.py). Variants alternate in rounds.
Afterwards every variant has run the same steps on the same data, so their parameters must
agree (bitwise between Kolo's on 2 ranks; to 1e-5 relative otherwise, since gloo and Kolo's
reductions round differently); a disagreement makes the exit status 1.
"""

import argparse
import os
import sys
import time

import torch
import torch.distributed as dist

import kolo.torch as kt
from bench_common import parse_variants, slowest, summarize, write_json

VARIANTS = ("kolo_ddp", "kolo_zero1", "kolo_zero2", "torch_zero")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--depth", type=int, default=6, help="hidden width x width layers")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads per rank (default 1: ranks share the cores)")
    p.add_argument("--bucket-cap-mb", type=float, default=25.0,
                   help="ShardedOptimizer's bucket_cap_mb")
    p.add_argument("--json", help="rank 0 writes the figures here")
    args = p.parse_args()
    args.variants = parse_variants(p, args.variants, VARIANTS)
    if args.steps < args.rounds or args.rounds < 1 or args.warmup < 0:
        p.error("--steps must be at least --rounds (positive); --warmup non-negative")
    return args


def make_model(width, depth):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(width, width) for _ in range(depth)]
    return torch.nn.Sequential(*[m for layer in layers for m in (layer, torch.nn.ReLU())])


def build(variant, args):
    model = make_model(args.width, args.depth)
    named = list(model.named_parameters())
    if variant == "kolo_ddp":
        return model, kt.DistributedOptimizer(torch.optim.Adam(model.parameters(), lr=1e-4),
                                              named_parameters=named)
    if variant.startswith("kolo_zero"):
        return model, kt.ShardedOptimizer(torch.optim.Adam(model.parameters(), lr=1e-4),
                                          named_parameters=named, stage=int(variant[-1]),
                                          bucket_cap_mb=args.bucket_cap_mb)
    from torch.distributed.optim import ZeroRedundancyOptimizer
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    return ddp, ZeroRedundancyOptimizer(ddp.parameters(), optimizer_class=torch.optim.Adam,
                                        lr=1e-4)


def step_times(model, opt, batch, steps):
    x, y = batch
    fwd_bwd, step = [], []
    for _ in range(steps):
        t0 = time.perf_counter_ns()
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        t1 = time.perf_counter_ns()
        opt.step()
        t2 = time.perf_counter_ns()
        fwd_bwd.append((t1 - t0) / 1e6)
        step.append((t2 - t1) / 1e6)
    return fwd_bwd, step


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def check(models, size):
    """Every variant's parameters against the first Kolo variant's; returns the failures."""
    failures = []
    names = list(models)
    base = flat(models[names[0]])
    for name in names[1:]:
        other = flat(models[name])
        exact = name.startswith("kolo") and size <= 2
        same = torch.equal(other, base) if exact else torch.allclose(other, base, rtol=1e-5,
                                                                     atol=1e-7)
        if not same:
            failures.append("%s's parameters differ from %s's by %g"
                            % (name, names[0], (other - base).abs().max().item()))
    return failures


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    kt.init()
    rank, size = kt.rank(), kt.size()
    if "torch_zero" in args.variants:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=size)
    g = torch.Generator().manual_seed(rank)
    batch = (torch.randn(args.batch, args.width, generator=g),
             torch.randn(args.batch, args.width, generator=g))
    built = {v: build(v, args) for v in args.variants}
    for v, (model, opt) in built.items():
        step_times(model, opt, batch, args.warmup)
    times = {v: ([], []) for v in args.variants}
    for r in range(args.rounds):
        n = args.steps // args.rounds + (1 if r < args.steps % args.rounds else 0)
        for v, (model, opt) in built.items():
            a, b = step_times(model, opt, batch, n)
            times[v][0].extend(a)
            times[v][1].extend(b)
    params = sum(p.numel() for p in built[args.variants[0]][0].parameters())
    results = {"np": size, "parameters": params, "batch": args.batch, "variants": {}}
    for v in args.variants:
        fb, st = slowest(times[v][0], v + ".fb"), slowest(times[v][1], v + ".step")
        total = [a + b for a, b in zip(fb, st)]
        results["variants"][v] = {"fwd_bwd_ms": summarize(fb), "step_ms": summarize(st),
                                  "total_ms": summarize(total)}
    failures = check({v: m for v, (m, _) in built.items()}, size)
    if rank == 0:
        print("np=%d, MLP %d x %d (%d float32 parameters, %.1f MiB), Adam, batch %d"
              % (size, args.depth, args.width, params, params * 4 / 2**20, args.batch))
        print("%-12s %12s %12s %12s" % ("variant", "fwd+bwd ms", "step ms", "total ms"))
        for v, r in results["variants"].items():
            print("%-12s %12.2f %12.2f %12.2f" % (v, r["fwd_bwd_ms"]["median"],
                                                 r["step_ms"]["median"],
                                                 r["total_ms"]["median"]))
        write_json(args.json, results)
    for f in failures:
        print("rank %d: FAILED: %s" % (rank, f), file=sys.stderr)
    if dist.is_initialized():
        dist.destroy_process_group()
    kt.shutdown()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
