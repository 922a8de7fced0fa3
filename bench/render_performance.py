#!/usr/bin/python3
"""Renders docs/PERFORMANCE.md from one bench/run_all.sh run.

    bench/render_performance.py OUTDIR [--reps N] [--publish DOCS_DIR]

Reads OUTDIR/machine.json, OUTDIR/raw/NAME_REP.json (kolo-bench --json files, REPS of each),
OUTDIR/sections/*.md (figures of other benchmarks, written by their blocks of run_all.sh) and
docs/perf/manual/*.md (results recorded by hand on other machines, e.g. GPU runs). Every figure
is the median over the repetitions. Writes OUTDIR/PERFORMANCE.md (bench/performance_template.md
with its {{placeholders}} filled), OUTDIR/summary.json, OUTDIR/summary.txt and the charts
OUTDIR/perf/*.png (bench/plot.py). --publish DOCS_DIR copies the page to DOCS_DIR/PERFORMANCE.md,
the charts to DOCS_DIR/perf/ and the summary to DOCS_DIR/perf/run_all-DATE.txt.
"""

import argparse
import copy
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

from perf_format import fmt_bw, fmt_bytes, fmt_time, ratio, table

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MIB = 1 << 20

# The targets the issues set (issue 2: raw allreduce; issue 3: runtime; issue 4: launcher).
RAW_TARGETS = {8: ("time ≤ 1.5× MPI's", lambda r: r["time_x_mpi"] <= 1.5),
               1 * MIB: ("≥ 1×", lambda r: r["busbw_x_mpi"] >= 1.0),
               16 * MIB: ("≥ 2×", lambda r: r["busbw_x_mpi"] >= 2.0),
               64 * MIB: ("≥ 2×", lambda r: r["busbw_x_mpi"] >= 2.0),
               256 * MIB: ("≥ 2×", lambda r: r["busbw_x_mpi"] >= 2.0)}
RUNTIME_8B_TARGET_US = 50.0
WORKLOAD_TARGET = 1.0  # ResNet-50 step ≤ 1.0× the faster MPI strategy
LAUNCH_TARGET_MS = 500.0


class RenderError(Exception):
    pass


def med(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def load_reps(raw, name, reps):
    """Every repetition of NAME that exists (NAME_1.json ...), or NAME.json for single runs."""
    files = [os.path.join(raw, f"{name}_{r}.json") for r in range(1, reps + 1)]
    files = [f for f in files if os.path.exists(f)]
    if not files and os.path.exists(os.path.join(raw, f"{name}.json")):
        files = [os.path.join(raw, f"{name}.json")]
    runs = []
    for f in files:
        try:
            runs.append(json.load(open(f)))
        except (OSError, json.JSONDecodeError) as e:
            raise RenderError(f"{f}: {e}")
    return runs


def median_sweep(runs):
    """One sweep whose every figure is the median over `runs` (rows matched by size)."""
    if not runs:
        return None
    merged = copy.deepcopy(runs[0])
    for i, row in enumerate(merged["results"]):
        same = [r["results"][i] for r in runs
                if i < len(r["results"]) and r["results"][i]["bytes"] == row["bytes"]]
        for key in ("median_us", "p99_us", "algbw", "busbw", "mpi_median_us", "mpi_p99_us",
                    "mpi_algbw", "mpi_busbw", "ratio"):
            if key in row:
                row[key] = med([s.get(key) for s in same])
        for side in ("out_of_place", "in_place"):
            if isinstance(row.get(side), dict):
                for key in ("median_us", "p99_us", "algbw", "busbw"):
                    row[side][key] = med([(s.get(side) or {}).get(key) for s in same])
        row["wrong"] = sum(s.get("wrong", 0) for s in same)
    merged["repetitions"] = len(runs)
    return merged


def median_workload(runs):
    if not runs:
        return None
    merged = copy.deepcopy(runs[0])
    for key in ("kolo", "mpi_per_tensor", "mpi_packed", "mpi_packed_copies"):
        if key in merged:
            for field in ("median_ms", "p99_ms", "min_ms", "gbps"):
                merged[key][field] = med([r[key][field] for r in runs if key in r])
    for key in ("median_step_ms", "effective_gbps", "kolo_over_faster_mpi"):
        if key in merged:
            merged[key] = med([r.get(key) for r in runs])
    merged["wrong"] = sum(r.get("wrong", 0) for r in runs)
    merged["repetitions"] = len(runs)
    return merged


def side(row, name):
    return row.get(name) if isinstance(row.get(name), dict) else {}


def missing(what):
    return f"*(not measured in this run: {what})*"


def render_machine(m):
    dirty = " (with uncommitted changes)" if m.get("git_dirty") else ""
    lines = [
        f"- Machine: {m.get('cpu_model', '?')}, {m.get('cores', '?')} cores "
        f"({m.get('threads_per_core', '?')} thread(s) per core, {m.get('numa_nodes', '?')} NUMA "
        f"node(s), L2 {m.get('l2', '?')}, L3 {m.get('l3', '?')}"
        f"{', AVX-512' if m.get('cpu_flags_avx512') else ''}), {m.get('memory_gib', '?')} GiB "
        f"memory, {m.get('os', '?')}, Linux {m.get('kernel', '?')}. Load average "
        f"{m.get('load_average', 0):.2f} when the run started.",
        f"- Versions: Kolo {m.get('git_rev', '?')}{dirty} ({m.get('build_type') or 'default'} "
        f"build), {m.get('compiler', '?')}, {m.get('open_mpi', '?')}, Python {m.get('python', '?')}, "
        f"PyTorch {m.get('torch', '?')}.",
        f"- Command: `bench/run_all.sh OUTDIR` on {m.get('date', '?')}, {m.get('reps', '?')} "
        f"repetition(s); np=2 runs are started with `mpirun --allow-run-as-root -np 2`, which binds "
        f"each rank to a core (kolorun does the same); np=3 and np=4 are oversubscribed.",
    ]
    if m.get("quick"):
        lines.insert(0, "> **QUICK run**: short sweeps and few iterations, to check the scripts; "
                        "these figures are not measurements to quote.\n")
    return "\n".join(lines)


def raw_rows(sweep, lat8):
    rows = []
    for data in (lat8, sweep):
        for r in (data or {}).get("results", []):
            ip = side(r, "in_place")
            rows.append({"bytes": r["bytes"], "time_us": ip.get("median_us", r.get("median_us")),
                         "p99_us": ip.get("p99_us", r.get("p99_us")),
                         "busbw": ip.get("busbw", r.get("busbw")),
                         "oop_busbw": side(r, "out_of_place").get("busbw"),
                         "mpi_us": r.get("mpi_median_us"), "mpi_busbw": r.get("mpi_busbw")})
    for row in rows:
        row["busbw_x_mpi"] = ratio(row["busbw"], row["mpi_busbw"])
        row["time_x_mpi"] = ratio(row["time_us"], row["mpi_us"])
    return rows


def render_raw_targets(summary):
    rows = raw_rows(summary.get("raw_np2_targets"), summary.get("raw_np2_lat8"))
    if not rows:
        return missing("raw_np2_targets, raw_np2_lat8")
    out = []
    for r in rows:
        target = RAW_TARGETS.get(r["bytes"])
        met = ""
        if target:
            try:
                met = "yes" if target[1](r) else "**no**"
            except TypeError:
                met = "–"
        versus = (f"time {r['time_x_mpi']:.2f}× MPI's" if r["bytes"] < 1024 and r["time_x_mpi"]
                  else f"{r['busbw_x_mpi']:.2f}×" if r["busbw_x_mpi"] else "–")
        small = r["bytes"] < 1024
        out.append([fmt_bytes(r["bytes"]), fmt_time(r["time_us"]), fmt_time(r["p99_us"]),
                    "" if small else fmt_bw(r["busbw"]), "" if small else fmt_bw(r["oop_busbw"]),
                    fmt_time(r["mpi_us"]), "" if small else fmt_bw(r["mpi_busbw"]), versus,
                    target[0] if target else "–", met])
    return table(["size", "Kolo time", "Kolo p99", "Kolo busbw", "Kolo busbw (out of place)",
                  "Open MPI time", "Open MPI busbw", "Kolo / MPI", "target", "met"], out)


def render_oversubscribed(summary):
    sweeps = {np: summary.get(f"raw_np{np}_sweep") for np in (3, 4)}
    if not any(sweeps.values()):
        return missing("raw_np3_sweep, raw_np4_sweep")
    sizes = []
    for data in sweeps.values():
        for r in (data or {}).get("results", []):
            if r["bytes"] not in sizes:
                sizes.append(r["bytes"])
    picked = sizes[::2] if len(sizes) > 7 else sizes
    out = []
    for size in picked:
        cells = [fmt_bytes(size)]
        for np in (3, 4):
            row = next((r for r in (sweeps[np] or {}).get("results", []) if r["bytes"] == size), {})
            kolo = side(row, "in_place").get("median_us", row.get("median_us"))
            cells += [fmt_time(kolo), fmt_time(row.get("mpi_median_us")),
                      f"{row['ratio']:.2f}" if row.get("ratio") else "–"]
        out.append(cells)
    return table(["size", "np=3 Kolo", "np=3 MPI", "np=3 busbw ratio", "np=4 Kolo", "np=4 MPI",
                  "np=4 busbw ratio"], out)


def render_collectives(summary):
    names = ["allgather", "broadcast", "reducescatter", "alltoall"]
    sweeps = {c: summary.get(f"coll_{c}_np2") for c in names}
    if not any(sweeps.values()):
        return missing("coll_*_np2")
    sizes = []
    for data in sweeps.values():
        for r in (data or {}).get("results", []):
            if r["bytes"] not in sizes and r["bytes"] > 0:
                sizes.append(r["bytes"])
    out = []
    for size in sorted(sizes):
        cells = [fmt_bytes(size)]
        for c in names:
            row = next((r for r in (sweeps[c] or {}).get("results", []) if r["bytes"] == size), None)
            if not row:
                cells.append("–")
                continue
            kolo, mpi = row.get("busbw"), row.get("mpi_busbw")
            cells.append(f"{kolo:.3g} / {mpi:.3g} ({kolo / mpi:.2f}×)" if kolo and mpi else
                         f"{kolo or 0:.3g} / –")
        out.append(cells)
    return table(["size"] + names, out)


def render_runtime(summary):
    lat = summary.get("runtime_np2_lat8")
    targets = summary.get("runtime_np2_targets")
    resnet = summary.get("resnet50_np2")
    bert = summary.get("bert-base_np2")
    if not any((lat, targets, resnet, bert)):
        return missing("runtime_np2_*, resnet50_np2, bert-base_np2")
    rows = []
    if lat and lat.get("results"):
        r = lat["results"][0]
        t = side(r, "in_place").get("median_us", r.get("median_us"))
        rows.append(["8-byte allreduce, submit → handle ready", fmt_time(t),
                     f"Open MPI `MPI_Allreduce` {fmt_time(r.get('mpi_median_us'))}",
                     f"< {RUNTIME_8B_TARGET_US:g} µs",
                     "yes" if t is not None and t < RUNTIME_8B_TARGET_US else "**no**"])
    for r in (targets or {}).get("results", []):
        rows.append([f"{fmt_bytes(r['bytes'])} busbw", fmt_bw(r.get("busbw")),
                     f"Open MPI {fmt_bw(r.get('mpi_busbw'))}", "–", ""])
    for name, data, target in (("ResNet-50", resnet, WORKLOAD_TARGET), ("BERT-base", bert, None)):
        if not data:
            continue
        peers = []
        if "mpi_per_tensor" in data:
            peers.append(f"MPI one `MPI_Allreduce` per tensor {data['mpi_per_tensor']['median_ms']:.2f} ms")
        if "mpi_packed" in data:
            peers.append(f"MPI packed flat buffer {data['mpi_packed']['median_ms']:.2f} ms "
                         f"({data['mpi_packed_copies']['median_ms']:.2f} ms of it copies)")
        x = data.get("kolo_over_faster_mpi")
        met = (f"{'yes' if x <= target else '**no**'}: {x:.2f}×" if target and x is not None
               else f"{x:.2f}×" if x is not None else "")
        rows.append([f"{name} step ({data['tensors']} tensors, {data['bytes'] / 1e6:.0f} MB)",
                     f"**{data['median_step_ms']:.2f} ms**", "; ".join(peers) or "–",
                     f"≤ {target:g}× the faster MPI strategy" if target else "–", met])
    return table(["measure", "Kolo", "peer in the same run", "target", "met"], rows)


def render_breakdown(summary):
    tl = summary.get("resnet50_np2_timeline_summary")
    if not tl or "fractions" not in tl:
        return missing("resnet50 timeline breakdown")
    f, t = tl["fractions"], tl.get("timeline", {})
    steps = t.get("steps", 1) or 1
    return (f"Where the ResNet-50 step goes (`KOLO_TIMELINE=... kolorun -np 2 build/bin/kolo-bench "
            f"--workload resnet50`, rank 0, timeline on, mean of {steps} steps of "
            f"{t.get('rank0_mean_step_ms', 0):.2f} ms): collectives {100 * f['collectives']:.0f} %, "
            f"fusion copies {100 * f['fusion_copies']:.0f} %, negotiation, queueing and the rest "
            f"{100 * f['negotiation_and_rest']:.0f} %; {t.get('batches', 0) / steps:.1f} batches per "
            f"step, {t.get('fused_batches', 0) / steps:.1f} of them fused (the small tensors), the "
            f"rest reduced in place.")


def render_fusion_sweep(summary):
    data = summary.get("fusion_sweep_resnet50")
    if not data or not data.get("points"):
        return missing("fusion_sweep_resnet50")
    best = data.get("best", {})
    rows = []
    for p in data["points"]:
        is_best = (p["fusion_threshold_bytes"] == best.get("fusion_threshold_bytes")
                   and p["cycle_time_ms"] == best.get("cycle_time_ms"))
        rows.append(["off" if p["fusion_threshold_bytes"] == 0 else fmt_bytes(p["fusion_threshold_bytes"]),
                     f"{p['cycle_time_ms']:g} ms", f"{p['median_ms']:.2f} ms", f"{p['p99_ms']:.2f} ms",
                     f"{p['gbps']:.2f} GB/s", "**best**" if is_best else ""])
    return (table(["fusion threshold", "cycle time", "median step", "p99 step", "effective", ""],
                  rows) +
            f"\n\nBest: `KOLO_FUSION_THRESHOLD={best.get('fusion_threshold_bytes')} "
            f"KOLO_CYCLE_TIME={best.get('cycle_time_ms')}` ({best.get('median_ms', 0):.2f} ms per step).")


def render_launcher(summary):
    data = summary.get("launcher")
    if not data:
        return missing("launcher")
    k, m = data["median_ms"]["kolorun"], data["median_ms"]["mpirun"]
    return table(["command", "median wall time", "target"],
                 [["`build/bin/kolorun -np 4 -- true`", f"{k:.0f} ms",
                   f"< {LAUNCH_TARGET_MS / 1000:g} s: {'met' if k < LAUNCH_TARGET_MS else '**not met**'}"],
                  ["`mpirun --allow-run-as-root --oversubscribe -np 4 true`", f"{m:.0f} ms", "(peer)"]]) \
        + f"\n\n{data.get('launches', '?')} launches of each, per repetition."


def render_sections(out, docs):
    parts = []
    for path in sorted(glob.glob(os.path.join(out, "sections", "*.md"))):
        parts.append(open(path).read().strip())
    manual = sorted(glob.glob(os.path.join(docs, "perf", "manual", "*.md")))
    for path in manual:
        text = open(path).read().strip()
        parts.append(f"{text}\n\n*Recorded by hand ({os.path.relpath(path, docs)}), not "
                     f"re-measured by run_all.sh.*")
    return "\n\n".join(parts)


def summarize(out, reps):
    raw = os.path.join(out, "raw")
    summary = {}
    sweeps = ["raw_np2_sweep", "raw_np2_targets", "raw_np2_lat8", "raw_np3_sweep",
              "raw_np4_sweep", "runtime_np2_sweep", "runtime_np2_targets", "runtime_np2_lat8"]
    sweeps += [f"coll_{c}_np2" for c in ("allgather", "broadcast", "reducescatter", "alltoall")]
    for name in sweeps:
        summary[name] = median_sweep(load_reps(raw, name, reps))
    for name in ("resnet50_np2", "bert-base_np2"):
        summary[name] = median_workload(load_reps(raw, name, reps))
    timeline = load_reps(raw, "resnet50_np2_timeline_summary", 1)
    summary["resnet50_np2_timeline_summary"] = timeline[0] if timeline else None
    fusion = load_reps(raw, "fusion_sweep_resnet50", 1)
    summary["fusion_sweep_resnet50"] = fusion[0] if fusion else None
    launches = load_reps(raw, "launcher", reps)
    if launches:
        summary["launcher"] = {
            "launches": launches[0]["launches"],
            "median_ms": {n: med([l["median_ms"][n] for l in launches])
                          for n in launches[0]["median_ms"]}}
    wrong = 0
    for name, data in summary.items():
        if isinstance(data, dict):
            wrong += data.get("wrong", 0) if "results" not in data else \
                sum(r.get("wrong", 0) for r in data["results"])
    summary["wrong"] = wrong
    return {k: v for k, v in summary.items() if v is not None}


def summary_text(summary):
    lines = ["# kolo-bench run_all summary (medians over the repetitions)"]
    for name, data in summary.items():
        if not isinstance(data, dict):
            continue
        if "results" in data:
            lines.append(f"\n## {name} ({data.get('collective')}, np={data.get('world_size')}, "
                         f"{data.get('repetitions', 1)} runs; us, GB/s)")
            lines.append(f"{'bytes':>11} {'oop_us':>10} {'oop_busbw':>10} {'ip_us':>10} "
                         f"{'ip_busbw':>10} {'mpi_us':>10} {'mpi_busbw':>10} {'ratio':>7}")
            for r in data["results"]:
                o, i = side(r, "out_of_place"), side(r, "in_place")
                cells = [o.get("median_us"), o.get("busbw"), i.get("median_us"), i.get("busbw"),
                         r.get("mpi_median_us"), r.get("mpi_busbw")]
                text = " ".join(f"{c:>10.2f}" if isinstance(c, (int, float)) else f"{'-':>10}"
                                for c in cells)
                rr = r.get("ratio")
                rtext = f"{rr:>7.2f}" if isinstance(rr, (int, float)) else f"{'-':>7}"
                lines.append(f"{r['bytes']:>11} {text} {rtext}")
        elif "median_step_ms" in data:
            lines.append(f"\n## {name}: median step {data['median_step_ms']:.2f} ms, "
                         f"{data.get('effective_gbps', 0):.2f} GB/s"
                         + (f", kolo / faster mpi {data['kolo_over_faster_mpi']:.2f}"
                            if data.get("kolo_over_faster_mpi") is not None else ""))
            for key in ("mpi_per_tensor", "mpi_packed", "mpi_packed_copies"):
                if key in data:
                    lines.append(f"  {key}: {data[key]['median_ms']:.2f} ms")
            if "fractions" in data:
                lines.append("  fractions: " + ", ".join(f"{k} {v:.2f}"
                                                         for k, v in data["fractions"].items()))
        elif data.get("kind") == "fusion_sweep":
            lines.append(f"\n## {name}: best {data.get('best')}")
        elif "median_ms" in data:
            lines.append(f"\n## {name}: " + ", ".join(f"{k} {v:.1f} ms"
                                                      for k, v in data["median_ms"].items()))
    lines.append(f"\nwrong elements over every run: {summary.get('wrong', 0)}")
    return "\n".join(lines) + "\n"


def write_merged(summary, folder):
    """The median files bench/plot.py draws, and which charts come from which."""
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for name, data in summary.items():
        if isinstance(data, dict):
            if name == "resnet50_np2" and "resnet50_np2_timeline_summary" in summary:
                data = dict(data)
                tl = summary["resnet50_np2_timeline_summary"]
                if "fractions" in tl:
                    data["fractions"] = tl["fractions"]
            paths[name] = os.path.join(folder, f"{name}.json")
            json.dump(data, open(paths[name], "w"), indent=1)
    return paths


def plot(paths, names, perf, prefix=""):
    files = [paths[n] for n in names if n in paths]
    if not files:
        return []
    run = subprocess.run([sys.executable, os.path.join(HERE, "plot.py"), "--outdir", perf,
                          "--prefix", prefix] + files, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        raise RenderError(f"plot.py {' '.join(files)}: {run.stdout.strip()}")
    return run.stdout.split()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outdir")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--publish", metavar="DOCS_DIR",
                        help="also copy the page, charts and summary into DOCS_DIR")
    parser.add_argument("--template", default=os.path.join(HERE, "performance_template.md"))
    args = parser.parse_args(argv)
    out = args.outdir
    docs = args.publish or os.path.join(ROOT, "docs")
    try:
        machine = json.load(open(os.path.join(out, "machine.json")))
        summary = summarize(out, args.reps)
        json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
        text = summary_text(summary)
        open(os.path.join(out, "summary.txt"), "w").write(text)

        perf = os.path.join(out, "perf")
        os.makedirs(perf, exist_ok=True)
        paths = write_merged(summary, os.path.join(out, "median"))
        charts = plot(paths, ["raw_np2_sweep", "runtime_np2_sweep"], perf, "np2_")
        charts += plot(paths, ["raw_np3_sweep", "raw_np4_sweep"], perf, "oversubscribed_")
        charts += plot(paths, [f"coll_{c}_np2" for c in
                               ("allgather", "broadcast", "reducescatter", "alltoall")], perf)
        charts += plot(paths, ["resnet50_np2", "bert-base_np2", "fusion_sweep_resnet50"], perf)

        fills = {
            "reps": str(machine.get("reps", args.reps)),
            "machine": render_machine(machine),
            "raw_targets": render_raw_targets(summary),
            "oversubscribed": render_oversubscribed(summary),
            "collectives": render_collectives(summary),
            "runtime": render_runtime(summary),
            "breakdown": render_breakdown(summary),
            "fusion_sweep": render_fusion_sweep(summary),
            "launcher": render_launcher(summary),
            "sections": render_sections(out, docs),
        }
        template = open(args.template).read()
        unknown = set(re.findall(r"{{(\w+)}}", template)) - set(fills)
        if unknown:
            raise RenderError(f"{args.template}: unknown placeholders {sorted(unknown)}")
        page = re.sub(r"{{(\w+)}}", lambda m: fills[m.group(1)], template)
        # A chart this run could not draw (its measurement is missing) is not linked.
        drawn = {os.path.basename(c) for c in charts}
        page = re.sub(r"!\[[^\]]*\]\(perf/([\w.-]+\.png)\) ?",
                      lambda m: m.group(0) if m.group(1) in drawn else "", page)
        page = re.sub(r"\n{3,}", "\n\n", page)
        open(os.path.join(out, "PERFORMANCE.md"), "w").write(page)
    except (OSError, KeyError, RenderError) as e:
        print(f"render_performance.py: {e}", file=sys.stderr)
        return 1
    if args.publish:
        os.makedirs(os.path.join(docs, "perf"), exist_ok=True)
        shutil.copy(os.path.join(out, "PERFORMANCE.md"), os.path.join(docs, "PERFORMANCE.md"))
        for chart in charts:
            shutil.copy(chart, os.path.join(docs, "perf", os.path.basename(chart)))
        date = machine.get("date", "")[:10] or "undated"
        shutil.copy(os.path.join(out, "summary.txt"),
                    os.path.join(docs, "perf", f"run_all-{date}.txt"))
        print(f"render_performance.py: published to {docs}/PERFORMANCE.md and {docs}/perf/")
    print(f"render_performance.py: {out}/PERFORMANCE.md, {len(charts)} charts in {out}/perf/")
    if summary.get("wrong", 0):
        print(f"render_performance.py: {summary['wrong']} wrong elements in the runs",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
