#!/usr/bin/python3
"""Pictures of a Kolo job from its live-metrics file (KOLO_METRICS_FILE, or a saved scrape of
KOLO_METRICS_PORT's /metrics): where each rank's time went, and who made the others wait.

    bench/kolo_report.py METRICS_FILE... [--outdir DIR]

Writes into DIR (default: the current directory)
  report_rank<R>.png  per rank: seconds spent negotiating, running collectives (copies, reduce
                      and transfers of the fused batches) and, estimated from the arrival lags,
                      waiting for the last member, per process set;
  report_skew.png     per process set seen by each rank: how often each member arrived last, and
                      its mean lag behind the first member (the straggler stands out).
Prints one line per rank and per process set with the same figures, naming the member that
most often arrived last. Needs matplotlib (Debian: python3-matplotlib); run with
/usr/bin/python3. docs/RELIABILITY.md ("Live verdict") and ARCHITECTURE.md ("Live metrics")
say what the figures mean.
"""

import argparse
import os
import re
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402

SAMPLE = re.compile(r'^(\w+)\{([^}]*)\}\s+(\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(paths):
    """{metric: [(labels dict, value)]} over every file (later files add samples)."""
    samples = defaultdict(list)
    for path in paths:
        with open(path) as f:
            for line in f:
                match = SAMPLE.match(line.strip())
                if match:
                    labels = dict(LABEL.findall(match.group(2)))
                    samples[match.group(1)].append((labels, float(match.group(3))))
    return samples


def per(samples, metric, *keys):
    """{tuple of the label values for keys: summed value}."""
    out = defaultdict(float)
    for labels, value in samples.get(metric, []):
        out[tuple(labels.get(k) for k in keys)] += value
    return out


def rank_breakdown(samples):
    """{rank: {set: {part: seconds}}}."""
    negotiation = per(samples, "kolo_negotiation_seconds_sum", "rank", "process_set")
    collectives = per(samples, "kolo_collective_seconds_total", "rank", "process_set")
    lags = per(samples, "kolo_arrival_lag_seconds_total", "rank", "process_set", "member_rank")
    out = defaultdict(dict)
    for rank, pset in set(negotiation) | set(collectives):
        mine = lags.get((rank, pset, rank), 0.0)
        slowest = max([v for (r, s, _), v in lags.items() if (r, s) == (rank, pset)] or [0.0])
        out[rank][pset] = {"negotiation": negotiation.get((rank, pset), 0.0),
                           "collectives": collectives.get((rank, pset), 0.0),
                           "waiting for the last member (estimate)": max(0.0, slowest - mine)}
    return out


def skew(samples):
    """{(rank, set): {member: (times last, mean lag s)}} and the measured counts."""
    last = per(samples, "kolo_arrived_last_total", "rank", "process_set", "member_rank")
    lags = per(samples, "kolo_arrival_lag_seconds_total", "rank", "process_set", "member_rank")
    measured = per(samples, "kolo_arrival_measured_total", "rank", "process_set")
    out = defaultdict(dict)
    for (rank, pset, member), count in last.items():
        n = measured.get((rank, pset), 0.0) or 1.0
        out[(rank, pset)][member] = (count, lags.get((rank, pset, member), 0.0) / n)
    return out, measured


def draw_rank(rank, sets, outdir):
    parts = ["negotiation", "collectives", "waiting for the last member (estimate)"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = sorted(sets, key=int)
    bottom = [0.0] * len(names)
    for part in parts:
        values = [sets[s][part] for s in names]
        ax.bar(["set %s" % s for s in names], values, bottom=bottom, label=part)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("seconds")
    ax.set_title("rank %s: where the time went" % rank)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = os.path.join(outdir, "report_rank%s.png" % rank)
    fig.savefig(path)
    plt.close(fig)
    return path


def draw_skew(views, outdir):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    width = 0.8 / max(1, len(views))
    for i, ((rank, pset), members) in enumerate(sorted(views.items())):
        order = sorted(members, key=int)
        x = [int(m) + i * width for m in order]
        label = "seen by rank %s, set %s" % (rank, pset)
        axes[0].bar(x, [members[m][0] for m in order], width, label=label)
        axes[1].bar(x, [1e3 * members[m][1] for m in order], width, label=label)
    axes[0].set_title("collectives in which a member arrived last")
    axes[1].set_title("mean lag behind the first member (ms)")
    for ax in axes:
        ax.set_xlabel("member rank")
        ax.legend(fontsize="x-small")
    fig.tight_layout()
    path = os.path.join(outdir, "report_skew.png")
    fig.savefig(path)
    plt.close(fig)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--outdir", default=".")
    args = parser.parse_args()
    samples = parse(args.files)
    breakdown = rank_breakdown(samples)
    if not breakdown:
        sys.exit("kolo_report: no kolo_* collective metrics in %s" % ", ".join(args.files))
    os.makedirs(args.outdir, exist_ok=True)
    for rank in sorted(breakdown, key=int):
        for pset, parts in sorted(breakdown[rank].items()):
            print("rank %s set %s: " % (rank, pset) +
                  ", ".join("%s %.3f s" % (k, v) for k, v in parts.items()))
        print(draw_rank(rank, breakdown[rank], args.outdir))
    views, measured = skew(samples)
    for (rank, pset), members in sorted(views.items()):
        worst = max(members, key=lambda m: (members[m][0], members[m][1]))
        count, lag = members[worst]
        print("set %s seen by rank %s: rank %s arrived last in %d of %d collectives, on average "
              "%.1f ms after the first" % (pset, rank, worst, count,
                                           measured.get((rank, pset), 0), 1e3 * lag))
    if views:
        print(draw_skew(views, args.outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
