#!/usr/bin/python3
"""Charts from kolo-bench --json files, written as PNG files into the current directory.

    bench/plot.py FILE.json... [--outdir DIR] [--prefix NAME]

Each file is recognised by its "kind" (kolo-bench writes it):
  sweep         busbw_<collective>.png: bus bandwidth against message size, log-log, one line
                per file (its path, algorithm and world size), and Open MPI's as a dashed line
                when the file has --compare mpi figures.
  workload      workload_breakdown.png: a stacked bar per workload and strategy: Kolo's step
                split into collectives, fusion copies and negotiation and the rest (from the
                timeline, when the run had KOLO_TIMELINE), and Open MPI's per-tensor and packed
                steps (packed split into the allreduce and the pack/unpack copies).
  fusion_sweep  fusion_sweep_<workload>.png: median step time per fusion threshold, one line
                per coordinator cycle time.
Prints the path of every PNG written. Needs matplotlib (Debian: python3-matplotlib); run it
with /usr/bin/python3.
"""

import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402


class PlotError(Exception):
    pass


def load(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise PlotError(f"{path}: cannot read: {e.strerror}")
    except json.JSONDecodeError as e:
        raise PlotError(f"{path}: not JSON: {e}")
    if not isinstance(data, dict):
        raise PlotError(f"{path}: not a kolo-bench --json file (not an object)")
    kind = data.get("kind")
    if kind is None:  # files written before "kind" existed
        kind = "sweep" if "results" in data else "workload" if "workload" in data else None
    if kind not in ("sweep", "workload", "fusion_sweep"):
        raise PlotError(f"{path}: not a kolo-bench --json file (no sweep, workload or "
                        f"fusion sweep in it)")
    return kind, data


def human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024.0
    return f"{n} B"


def sweep_label(data, path):
    algos = []
    for row in data.get("results", []):
        a = row.get("algorithm")
        if a and a not in algos:
            algos.append(a)
    algo = "/".join(algos) if algos else data.get("algorithm_request", "")
    parts = ["kolo", data.get("path", "raw")]
    if algo:
        parts.append(algo)
    parts.append(f"np={data.get('world_size', '?')}")
    parts.append(f"({os.path.splitext(os.path.basename(path))[0]})")
    return " ".join(parts)


def positive_points(rows, key):
    xs, ys = [], []
    for row in rows:
        value = row.get(key)
        if isinstance(value, (int, float)) and value > 0 and row.get("bytes", 0) > 0:
            xs.append(row["bytes"])
            ys.append(value)
    return xs, ys


def plot_sweeps(sweeps, outdir, prefix):
    written = []
    by_collective = {}
    for path, data in sweeps:
        by_collective.setdefault(data.get("collective", "unknown"), []).append((path, data))
    for collective, files in sorted(by_collective.items()):
        fig, ax = plt.subplots(figsize=(8, 5))
        lines = 0
        for path, data in files:
            rows = data.get("results", [])
            xs, ys = positive_points(rows, "busbw")
            if xs:
                ax.plot(xs, ys, marker="o", markersize=3, label=sweep_label(data, path))
                lines += 1
            mx, my = positive_points(rows, "mpi_busbw")
            if mx:
                ax.plot(mx, my, linestyle="--", marker="s", markersize=3,
                        label=f"Open MPI np={data.get('world_size', '?')} "
                              f"({os.path.splitext(os.path.basename(path))[0]})")
                lines += 1
        if lines == 0:
            plt.close(fig)
            continue
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("message size per rank (bytes)")
        ax.set_ylabel("bus bandwidth (GB/s)")
        ax.set_title(f"{collective}: bus bandwidth against size")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        out = os.path.join(outdir, f"{prefix}busbw_{collective}.png")
        fig.savefig(out, dpi=110)
        plt.close(fig)
        written.append(out)
    return written


def workload_bars(data):
    """(label, [(segment, ms)]) per strategy of one workload file."""
    name = data.get("workload", "?")
    bars = []
    kolo_ms = data.get("median_step_ms") or data.get("kolo", {}).get("median_ms", 0.0)
    fractions = data.get("fractions")
    if fractions:
        segments = [("collectives", kolo_ms * fractions.get("collectives", 0.0)),
                    ("fusion copies", kolo_ms * fractions.get("fusion_copies", 0.0)),
                    ("negotiation and the rest", kolo_ms * fractions.get("negotiation_and_rest", 0.0))]
    else:
        segments = [("step (no timeline)", kolo_ms)]
    bars.append((f"{name}\nkolo", segments))
    if "mpi_per_tensor" in data:
        bars.append((f"{name}\nmpi per tensor",
                     [("collectives", data["mpi_per_tensor"]["median_ms"])]))
    if "mpi_packed" in data:
        copies = data.get("mpi_packed_copies", {}).get("median_ms", 0.0)
        total = data["mpi_packed"]["median_ms"]
        bars.append((f"{name}\nmpi packed",
                     [("collectives", max(total - copies, 0.0)), ("fusion copies", copies)]))
    return bars


def plot_workloads(workloads, outdir, prefix):
    bars = []
    for _, data in workloads:
        bars.extend(workload_bars(data))
    if not bars:
        return []
    colors = {"collectives": "tab:blue", "fusion copies": "tab:orange",
              "negotiation and the rest": "tab:green", "step (no timeline)": "tab:gray"}
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(bars)), 5))
    seen = set()
    for i, (_, segments) in enumerate(bars):
        bottom = 0.0
        for segment, ms in segments:
            label = segment if segment not in seen else None
            seen.add(segment)
            ax.bar(i, ms, bottom=bottom, color=colors.get(segment, "tab:purple"), label=label)
            bottom += ms
    ax.set_xticks(range(len(bars)))
    ax.set_xticklabels([label for label, _ in bars], fontsize=8)
    ax.set_ylabel("time per step (ms, median)")
    ax.set_title("where a training step's gradient exchange goes")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    out = os.path.join(outdir, f"{prefix}workload_breakdown.png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return [out]


def plot_fusion_sweeps(sweeps, outdir, prefix):
    written = []
    for _, data in sweeps:
        points = data.get("points", [])
        if not points:
            continue
        thresholds = sorted({p["fusion_threshold_bytes"] for p in points})
        cycles = sorted({p["cycle_time_ms"] for p in points})
        fig, ax = plt.subplots(figsize=(8, 5))
        for cycle in cycles:
            ys = []
            for t in thresholds:
                match = [p["median_ms"] for p in points
                         if p["fusion_threshold_bytes"] == t and p["cycle_time_ms"] == cycle]
                ys.append(match[0] if match else float("nan"))
            ax.plot(range(len(thresholds)), ys, marker="o", label=f"cycle time {cycle:g} ms")
        ax.set_xticks(range(len(thresholds)))
        ax.set_xticklabels(["off" if t == 0 else human_bytes(t) for t in thresholds])
        ax.set_xlabel("fusion threshold")
        ax.set_ylabel("time per step (ms, median)")
        best = data.get("best")
        title = f"{data.get('workload', '?')}: fusion sweep, np={data.get('world_size', '?')}"
        if best:
            title += (f" (best: {human_bytes(best['fusion_threshold_bytes'])}, "
                      f"{best['cycle_time_ms']:g} ms)")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out = os.path.join(outdir, f"{prefix}fusion_sweep_{data.get('workload', 'workload')}.png")
        fig.savefig(out, dpi=110)
        plt.close(fig)
        written.append(out)
    return written


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE.json")
    parser.add_argument("--outdir", default=".", help="where the PNG files go (default: here)")
    parser.add_argument("--prefix", default="", help="prepended to every PNG name")
    args = parser.parse_args(argv)
    groups = {"sweep": [], "workload": [], "fusion_sweep": []}
    try:
        for path in args.files:
            kind, data = load(path)
            groups[kind].append((path, data))
    except PlotError as e:
        print(f"plot.py: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.outdir, exist_ok=True)
    written = plot_sweeps(groups["sweep"], args.outdir, args.prefix)
    written += plot_workloads(groups["workload"], args.outdir, args.prefix)
    written += plot_fusion_sweeps(groups["fusion_sweep"], args.outdir, args.prefix)
    if not written:
        print("plot.py: nothing to plot (no positive figures in the files)", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
