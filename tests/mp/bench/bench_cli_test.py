#!/usr/bin/python3
"""kolo-bench end to end, ranks as processes under kolorun: the JSON and CSV files, the
--baseline regression gate, --sweep-fusion, and bench/plot.py on what kolo-bench wrote.

    bench_cli_test.py KOLORUN KOLO_BENCH PLOT_PY CASE      (CASE: files, baseline, plot)
"""

import csv
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

KOLORUN, BENCH, PLOT, CASE = sys.argv[1:5]
SWEEP = ["allreduce", "-b", "8", "-e", "64K", "-f", "8", "-n", "3", "-w", "1"]
# Three small gradients: a fused batch and one tensor at the in-place threshold.
TINY_WORKLOAD = "head.bias 10\nhead.weight 10x300\nbody 262144\n"


def fail(message, output=""):
    print(f"FAIL: {message}")
    if output:
        print("---- output ----")
        print(output[-6000:])
    sys.exit(1)


def bench(args, env=None, expect=0):
    command = [KOLORUN, "-np", "2", "--timeout", "100", BENCH] + args
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=dict(os.environ, **(env or {})), timeout=150)
    if run.returncode != expect:
        fail(f"{' '.join(command)} exited {run.returncode}, expected {expect}", run.stdout)
    return run.stdout


def check_link_counters(tmp, workload_file):
    """Over TCP the timeline plots rank 0's link to rank 1: at least the gradient bytes of every
    step go each way (3 steps of the tiny workload: 265154 floats)."""
    timeline = os.path.join(tmp, "tcp_timeline.json")
    bench(["--workload", workload_file, "-n", "2", "-w", "1"],
          env={"KOLO_TIMELINE": timeline, "KOLO_TRANSPORT": "tcp"})
    points = [e for e in json.load(open(timeline)) if e.get("name") == "LINK rank 1"]
    if not points or any(e.get("ph") != "C" for e in points):
        fail(f"the TCP timeline has no LINK rank 1 counter track ({len(points)} points)")
    floor = 3 * 265154 * 4 / 1e6
    for arg in ("sent_MB", "received_MB"):
        total = sum(e["args"][arg] for e in points)
        if total < floor:
            fail(f"LINK rank 1 {arg} adds up to {total} MB, under the {floor} MB the steps move")


def case_files(tmp):
    js, cv = os.path.join(tmp, "a.json"), os.path.join(tmp, "a.csv")
    out = bench(SWEEP + ["--check", "--json", js, "--csv", cv])
    for needed in ("# topology", "out-of-place", "in-place", "# Out of bounds values : 0 OK",
                   "# Avg bus bandwidth :"):
        if needed not in out:
            fail(f"output lacks {needed!r}", out)
    data = json.load(open(js))
    sizes = [r["bytes"] for r in data["results"]]
    if sizes != [8, 64, 512, 4096, 32768]:
        fail(f"JSON sizes {sizes}")
    for r in data["results"]:
        for side in ("out_of_place", "in_place"):
            s = r[side]
            if s["wrong"] != 0 or not s["median_us"] > 0 or s["p99_us"] < s["median_us"]:
                fail(f"JSON {side} of {r['bytes']} B: {s}")
            expected_busbw = r["bytes"] / (s["median_us"] * 1e3)  # 2 ranks: busbw == algbw
            if abs(s["busbw"] - expected_busbw) > 1e-9 * max(1.0, expected_busbw):
                fail(f"busbw {s['busbw']} of {r['bytes']} B is not bytes/time {expected_busbw}")
    rows = list(csv.DictReader(open(cv)))
    if [int(r["size"]) for r in rows] != sizes:
        fail(f"CSV sizes {[r['size'] for r in rows]} differ from the JSON's {sizes}")
    if any(r["oop_wrong"] != "0" or r["ip_wrong"] != "0" for r in rows):
        fail(f"CSV has wrong elements: {rows}")


def with_busbw(data, value):
    for r in data["results"]:
        for side in ("out_of_place", "in_place"):
            if r.get(side):
                r[side]["busbw"] = value
    return data


def case_baseline(tmp):
    base = os.path.join(tmp, "base.json")
    bench(SWEEP + ["--json", base])
    data = json.load(open(base))
    inflated, zero = os.path.join(tmp, "inflated.json"), os.path.join(tmp, "zero.json")
    json.dump(with_busbw(json.loads(json.dumps(data)), 1e9), open(inflated, "w"))
    json.dump(with_busbw(json.loads(json.dumps(data)), 0.0), open(zero, "w"))

    out = bench(SWEEP + ["--baseline", inflated, "--max-regress", "10"], expect=3)
    for size in (8, 64, 512, 4096, 32768):
        for side in ("out-of-place", "in-place"):
            if f"# Regression : size {size} {side}: busbw" not in out:
                fail(f"no regression line for {size} B {side}", out)
    if f"# Baseline {inflated} : 10 busbw figures compared, max regress 10% : FAILED" not in out:
        fail("no FAILED baseline summary", out)

    out = bench(SWEEP + ["--baseline", zero, "--max-regress", "10"])
    if "# Regression" in out or f"# Baseline {zero} : 10 busbw figures compared" not in out \
            or ": OK" not in out:
        fail("a baseline of zeros did not pass", out)

    out = bench(["alltoall"] + SWEEP[1:] + ["--baseline", zero], expect=2)
    if "the baseline measured allreduce, this run alltoall" not in out:
        fail("a baseline of another collective was not refused by name", out)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        fail(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def case_plot(tmp):
    sweep = os.path.join(tmp, "sweep.json")
    bench(SWEEP + ["--json", sweep])
    workload_file = os.path.join(tmp, "tiny.txt")
    open(workload_file, "w").write(TINY_WORKLOAD)
    workload = os.path.join(tmp, "workload.json")
    out = bench(["--workload", workload_file, "-n", "2", "-w", "1", "--json", workload],
                env={"KOLO_TIMELINE": os.path.join(tmp, "timeline.json")})
    if "collectives" not in out or "fusion copies" not in out:
        fail("the workload report has no timeline breakdown", out)
    check_link_counters(tmp, workload_file)
    fractions = json.load(open(workload)).get("fractions")
    if not fractions or set(fractions) != {"collectives", "fusion_copies",
                                           "negotiation_and_rest"}:
        fail(f"workload JSON fractions: {fractions}")
    fusion = os.path.join(tmp, "fusion.json")
    out = bench(["--workload", workload_file, "--sweep-fusion", "--sweep-thresholds", "0,4M",
                 "--sweep-cycles", "1,5", "-n", "2", "-w", "1", "--json", fusion])
    if "# best : KOLO_FUSION_THRESHOLD=" not in out or "# Out of bounds values : 0 OK" not in out:
        fail("the fusion sweep names no best setting", out)
    if len(json.load(open(fusion))["points"]) != 4:
        fail("the fusion sweep JSON does not have 2 x 2 settings")

    pngs = os.path.join(tmp, "png")
    os.makedirs(pngs)
    run = subprocess.run(["/usr/bin/python3", PLOT, sweep, workload, fusion], cwd=pngs,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    if run.returncode != 0:
        fail(f"plot.py exited {run.returncode}", run.stdout)
    for name in ("busbw_allreduce.png", "workload_breakdown.png", "fusion_sweep_tiny.png"):
        path = os.path.join(pngs, name)
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            fail(f"plot.py did not write {name}", run.stdout)
        width, height = png_size(path)
        if width == 0 or height == 0:
            fail(f"{name} is {width}x{height}")

    junk = os.path.join(tmp, "junk.json")
    open(junk, "w").write('{"hello": 1}')
    run = subprocess.run(["/usr/bin/python3", PLOT, junk], cwd=pngs, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=60)
    if run.returncode != 2 or f"{junk}: not a kolo-bench --json file" not in run.stdout:
        fail(f"plot.py on a foreign JSON exited {run.returncode}", run.stdout)


def case_render(tmp):
    """bench/render_performance.py on a run_all-shaped OUTDIR with a few real kolo-bench files;
    everything else is missing and must say so instead of failing or inventing figures."""
    out = os.path.join(tmp, "run")
    raw = os.path.join(out, "raw")
    os.makedirs(raw)
    os.makedirs(os.path.join(out, "sections"))
    bench(["allreduce", "-b", "1M", "-e", "4M", "-f", "4", "-n", "3", "-w", "1", "--json",
           os.path.join(raw, "raw_np2_targets_1.json")])
    bench(["allreduce", "-b", "8", "-e", "8", "-n", "20", "-w", "2", "--json",
           os.path.join(raw, "raw_np2_lat8_1.json")])
    workload_file = os.path.join(tmp, "tiny.txt")
    open(workload_file, "w").write(TINY_WORKLOAD)
    bench(["--workload", workload_file, "-n", "2", "-w", "1", "--json",
           os.path.join(raw, "resnet50_np2_1.json")])
    json.dump({"date": "2026-01-02 03:04:05 UTC", "quick": True, "reps": 1,
               "cpu_model": "Test CPU", "cores": 2, "git_rev": "abc1234"},
              open(os.path.join(out, "machine.json"), "w"))
    open(os.path.join(out, "sections", "50-extra.md"), "w").write("## Extra block\n\nfigure 42\n")
    docs = os.path.join(tmp, "docs")
    os.makedirs(os.path.join(docs, "perf", "manual"))
    open(os.path.join(docs, "perf", "manual", "gpu.md"), "w").write("## GPU by hand\n\nH100\n")
    render = os.path.join(os.path.dirname(PLOT), "render_performance.py")
    run = subprocess.run(["/usr/bin/python3", render, out, "--reps", "1", "--publish", docs],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    if run.returncode != 0:
        fail(f"render_performance.py exited {run.returncode}", run.stdout)
    page = open(os.path.join(docs, "PERFORMANCE.md")).read()
    for needed in ("**QUICK run**", "Test CPU, 2 cores", "Kolo abc1234",
                   "| size | Kolo time | Kolo p99 | Kolo busbw |", "| 1 MiB |", "| 4 MiB |",
                   "| 8 B |", "*(not measured in this run: raw_np3_sweep, raw_np4_sweep)*",
                   "ResNet-50 step (3 tensors", "## Extra block", "figure 42", "## GPU by hand",
                   "not re-measured by run_all.sh", "![where a step goes](perf/workload_breakdown.png)"):
        if needed not in page:
            fail(f"the page lacks {needed!r}", page)
    if "{{" in page:
        fail("the page has an unfilled placeholder", page)
    # Every chart the page links was drawn and published; the np=2 sweep chart was not drawn
    # (no raw_np2_sweep in this run), so it is not linked.
    linked = re.findall(r"\]\(perf/([\w.-]+\.png)\)", page)
    if "workload_breakdown.png" not in linked or "np2_busbw_allreduce.png" in linked:
        fail(f"the page links {linked}", page)
    for chart in linked:
        path = os.path.join(docs, "perf", chart)
        if not os.path.isfile(path):
            fail(f"{chart} is linked but was not published", run.stdout)
        png_size(path)
    if not os.path.isfile(os.path.join(docs, "perf", "run_all-2026-01-02.txt")):
        fail("the summary was not published")


CASES = {"files": case_files, "baseline": case_baseline, "plot": case_plot,
         "render": case_render}

if __name__ == "__main__":
    if CASE not in CASES:
        fail(f"unknown case {CASE}; expected one of {sorted(CASES)}")
    with tempfile.TemporaryDirectory(prefix="kolo-bench-test-") as tmp:
        CASES[CASE](tmp)
    print(f"PASS: {CASE}")
