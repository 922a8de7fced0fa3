#!/usr/bin/python3
"""How often do f16 / bf16 sums accumulated in float32 round to different 16-bit values when
the ranks are added in different orders (docs/ARCHITECTURE.md, "16-bit float sums across
ranks")? Simulates n ranks' inputs rounded to the type, sums them in float32 in rank order, as a
chain starting at another rank (the ring) and as a pairwise tree (recursive doubling), rounds
each sum once, and prints the fraction of elements where the results differ.

    bench/half_sum_orders.py [--ranks 8] [--elements 2000000] [--seed 1]
"""

import argparse

import numpy as np


def to_bf16(x):
    """float32 -> bfloat16 -> float32, round to nearest even (finite inputs)."""
    b = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return r.astype(np.uint32).view(np.float32)


def to_f16(x):
    return x.astype(np.float32).astype(np.float16).astype(np.float32)


def chain(xs, order):
    acc = xs[order[0]].copy()
    for q in order[1:]:
        acc = (acc + xs[q]).astype(np.float32)
    return acc


def tree(xs):
    level = list(xs)
    while len(level) > 1:
        pairs = [(level[i] + level[i + 1]).astype(np.float32) for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=8)
    parser.add_argument("--elements", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n, count = args.ranks, args.elements
    rotated = list(range(n // 2, n)) + list(range(n // 2))
    for name, rnd in (("bf16", to_bf16), ("f16", to_f16)):
        for dist in ("uniform(-1, 1)", "normal(0.1, 1)"):
            draw = (lambda: rng.uniform(-1, 1, count)) if dist[0] == "u" else (
                lambda: rng.normal(0.1, 1, count))
            xs = [rnd(draw().astype(np.float32)) for _ in range(n)]
            ranked = rnd(chain(xs, list(range(n))))
            print("%-4s %-15s rank order vs rotated chain: %.1e   vs tree: %.1e" % (
                name, dist, np.mean(ranked != rnd(chain(xs, rotated))),
                np.mean(ranked != rnd(tree(xs)))))


if __name__ == "__main__":
    main()
