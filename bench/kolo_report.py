#!/usr/bin/python3
"""Pictures of a Kolo job from its live-metrics file (KOLO_METRICS_FILE, or a saved scrape of
KOLO_METRICS_PORT's /metrics) or from its timeline (KOLO_TIMELINE): where each rank's time went,
and who made the others wait.

    bench/kolo_report.py FILE... [--outdir DIR]

Writes into DIR (default: the current directory)
  report_rank<R>.png  per rank, a stacked bar per process set: seconds spent negotiating,
                      waiting for the last member (estimated from the arrival lags), and inside
                      the collectives, split by phase (kolo_phase_seconds_total): copy (shared-
                      memory slots, fusion buffer), reduce (the reduce kernels), transfer
                      (waiting for and moving peers' data) and other (the rest of the collective);
  report_skew.png     per process set seen by each rank: how often each member arrived last, and
                      its mean lag behind the first member (the straggler stands out).
Prints one line per rank and per process set with the same figures (in ms), naming the member
that most often arrived last. A metrics file without phase counters shows one "collectives" part.

A timeline (Chrome trace JSON, recognised by its leading "[") is written by rank 0 and holds
no negotiation or arrival figures: from it the report draws rank 0's collective time per process
set split by phase (the copy_us, reduce_us, transfer_us and other_us args of its collective
events, one batch counted once) and no skew chart.

Needs matplotlib (Debian: python3-matplotlib); run with /usr/bin/python3. docs/RELIABILITY.md
("Live verdict") and ARCHITECTURE.md ("Live metrics") say what the figures mean.
"""

import argparse
import json
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


WAIT = "waiting for the last member (estimate)"
PHASES = ("copy", "reduce", "transfer", "other")
PARTS = ("negotiation", WAIT, "collectives") + PHASES  # bottom to top; empty parts are left out


def rank_breakdown(samples):
    """{rank: {set: {part: seconds}}}."""
    negotiation = per(samples, "kolo_negotiation_seconds_sum", "rank", "process_set")
    collectives = per(samples, "kolo_collective_seconds_total", "rank", "process_set")
    phases = per(samples, "kolo_phase_seconds_total", "rank", "process_set", "phase")
    lags = per(samples, "kolo_arrival_lag_seconds_total", "rank", "process_set", "member_rank")
    out = defaultdict(dict)
    for rank, pset in set(negotiation) | set(collectives):
        mine = lags.get((rank, pset, rank), 0.0)
        slowest = max([v for (r, s, _), v in lags.items() if (r, s) == (rank, pset)] or [0.0])
        parts = {"negotiation": negotiation.get((rank, pset), 0.0),
                 WAIT: max(0.0, slowest - mine)}
        if any((rank, pset, p) in phases for p in PHASES):
            parts.update((p, phases.get((rank, pset, p), 0.0)) for p in PHASES)
        else:  # a file from before the phase counters
            parts["collectives"] = collectives.get((rank, pset), 0.0)
        out[rank][pset] = parts
    return out


def timeline_breakdown(path):
    """{"0": {set: {phase: seconds}}} from a Chrome trace of KOLO_TIMELINE (rank 0's)."""
    with open(path) as f:
        text = f.read().strip()
    if not text.endswith("]"):  # a job still running (or crashed) leaves the array open
        text = text.rstrip(",") + "]"
    batches = {}
    for event in json.loads(text):
        args = event.get("args") or {}
        if event.get("ph") == "X" and "batch" in args and "copy_us" in args:
            batches[(event["pid"], args["batch"])] = args  # a batch's tensors share its split
    out = defaultdict(lambda: defaultdict(float))
    for (pset, _), args in batches.items():
        for p in PHASES:
            out[str(pset)][p] += args.get(p + "_us", 0.0) / 1e6
    return {"0": out} if out else {}


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
    fig, ax = plt.subplots(figsize=(8, 3.5))
    names = sorted(sets, key=int)
    bottom = [0.0] * len(names)
    for part in PARTS:
        if not any(part in sets[s] for s in names):
            continue
        values = [sets[s].get(part, 0.0) for s in names]
        ax.bar(["set %s" % s for s in names], values, bottom=bottom, label=part)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("seconds")
    ax.set_title("rank %s: where the time went" % rank)
    handles, labels = ax.get_legend_handles_labels()  # top part first, as stacked
    ax.legend(handles[::-1], labels[::-1], fontsize="small", loc="center left",
              bbox_to_anchor=(1.0, 0.5))
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


def is_timeline(path):
    with open(path) as f:
        return f.read(64).lstrip().startswith("[")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--outdir", default=".")
    args = parser.parse_args()
    timelines = [f for f in args.files if is_timeline(f)]
    samples = parse([f for f in args.files if f not in timelines])
    breakdown = rank_breakdown(samples)
    if not breakdown and timelines:
        for path in timelines:
            breakdown.update(timeline_breakdown(path))
    if not breakdown:
        sys.exit("kolo_report: no kolo_* collective metrics and no timeline phases in %s"
                 % ", ".join(args.files))
    os.makedirs(args.outdir, exist_ok=True)
    for rank in sorted(breakdown, key=int):
        for pset, parts in sorted(breakdown[rank].items()):
            print("rank %s set %s: " % (rank, pset) +
                  ", ".join("%s %.3f ms" % (k, 1e3 * parts[k]) for k in PARTS if k in parts))
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
