"""check_metrics.py's `phases` mode: a 2-rank job (phases_job.py) with KOLO_METRICS_FILE on runs
allreduces, allgathers and broadcasts, small and pipelined. For every rank and collective the
file must split the collective time by phase (kolo_phase_seconds_total): copy + reduce +
transfer is above zero and at most kolo_collective_seconds_total, the four phases with "other"
add up to it, allreduce spent time reducing and allgather and broadcast none. Then
bench/kolo_report.py draws the file: a picture per rank, and printed lines that carry the same
phase figures as the file. The same job writes a timeline (KOLO_TIMELINE): its collective events
carry the phases, and kolo_report.py reads it too."""

import json
import os
import re
import socket
import subprocess
import sys
import time

import exposition
import phases_job

PHASES = ("copy", "reduce", "transfer", "other")


def phase_mismatches(families, np_):
    """What is wrong with the phase counters of the final file, as text; empty when right."""
    bad = []
    for rank in range(np_):
        for op, tensors in phases_job.EXPECTED.items():
            labels = dict(rank=rank, process_set=0, op=op)
            done = exposition.value(families, "kolo_ops_total", **labels)
            if done is None or done < tensors:
                bad.append("rank %d %s: %s ops, expected at least %d" % (rank, op, done, tensors))
                continue
            total = exposition.value(families, "kolo_collective_seconds_total", **labels)
            got = {p: exposition.value(families, "kolo_phase_seconds_total", phase=p, **labels)
                   for p in PHASES}
            if None in got.values() or total is None:
                bad.append("rank %d %s: phases %r, collective seconds %s" % (rank, op, got, total))
                continue
            attributed = got["copy"] + got["reduce"] + got["transfer"]
            if not 0 < attributed <= total:
                bad.append("rank %d %s: copy + reduce + transfer = %r s, collective time %r s" %
                           (rank, op, attributed, total))
            if abs(attributed + got["other"] - total) > 1e-9 * max(1.0, total):
                bad.append("rank %d %s: the phases %r add up to %r s, not the collective time %r s"
                           % (rank, op, got, attributed + got["other"], total))
            if op == "allreduce" and not got["reduce"] > 0:
                bad.append("rank %d allreduce: no reduce time (%r)" % (rank, got))
            if op != "allreduce" and got["reduce"] != 0:
                bad.append("rank %d %s reduced nothing, yet reduce = %r s" % (rank, op,
                                                                              got["reduce"]))
    return bad


def report_mismatches(families, path, workdir, np_):
    """bench/kolo_report.py over the file: a PNG per rank, and each rank's line for set 0 prints
    the file's phase seconds summed over the collectives (in ms, 3 decimals)."""
    outdir = os.path.join(workdir, "report")
    run = run_report([path], outdir)
    if run.returncode != 0:
        return ["kolo_report exited %d:\n%s" % (run.returncode, run.stdout)]
    bad = []
    for rank in range(np_):
        png = os.path.join(outdir, "report_rank%d.png" % rank)
        if not (os.path.exists(png) and os.path.getsize(png) > 0):
            bad.append("kolo_report wrote no %s" % png)
        line = next((l for l in run.stdout.splitlines()
                     if l.startswith("rank %d set 0: " % rank)), None)
        if line is None:
            bad.append("kolo_report printed no line for rank %d set 0:\n%s" % (rank, run.stdout))
            continue
        for phase in PHASES:
            want = sum(v for name, lab, v in families["kolo_phase_seconds_total"]["samples"]
                       if lab.get("rank") == str(rank) and lab.get("process_set") == "0"
                       and lab.get("phase") == phase)
            match = re.search(r"\b%s ([0-9.]+) ms\b" % phase, line)
            if match is None or abs(float(match.group(1)) - 1e3 * want) > 0.0011:
                bad.append("rank %d: kolo_report says %r for %s; the file has %.6f ms" %
                           (rank, match and match.group(0), phase, 1e3 * want))
    return bad


def run_report(files, outdir):
    here = os.path.dirname(os.path.abspath(__file__))
    report = os.path.join(here, "..", "..", "..", "bench", "kolo_report.py")
    return subprocess.run([sys.executable, report, *files, "--outdir", outdir],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120)


def timeline_mismatches(path, workdir):
    """Rank 0's timeline: every collective event carries its batch's phase split, which adds up
    to the event's span when the batch ran unpacked; only allreduces reduce; kolo_report.py
    reads the file and prints each phase summed over the batches (each counted once)."""
    with open(path) as f:
        events = json.load(f)
    batches, bad = {}, []
    for e in events:
        args = e.get("args") or {}
        if e.get("ph") != "X" or "batch" not in args:
            continue
        split = [args.get(p + "_us") for p in PHASES]
        if None in split:
            bad.append("timeline event without the four phases: %r" % e)
            continue
        batches[(e["pid"], args["batch"])] = args
        if not e["name"].startswith("FUSED_") and abs(sum(split) - e["dur"]) > 0.01:
            bad.append("%s: phases %r add up to %.3f us, the event lasts %.3f us" %
                       (e["name"], split, sum(split), e["dur"]))
        if args["reduce_us"] > 0 and "ALLREDUCE" not in e["name"]:
            bad.append("%s reduced nothing, yet reduce_us = %r" % (e["name"], args["reduce_us"]))
    if not any(a["reduce_us"] > 0 for a in batches.values()):
        bad.append("no batch of the timeline spent time reducing")
    run = run_report([path], os.path.join(workdir, "timeline-report"))
    line = next((l for l in run.stdout.splitlines() if l.startswith("rank 0 set 0: ")), "")
    for phase in PHASES:
        want = sum(a[phase + "_us"] for (pid, _), a in batches.items() if pid == 0) / 1e3
        match = re.search(r"\b%s ([0-9.]+) ms\b" % phase, line)
        if match is None or abs(float(match.group(1)) - want) > 0.0011:
            bad.append("kolo_report on the timeline says %r for %s; its batches add up to "
                       "%.6f ms:\n%s" % (match and match.group(0), phase, want, run.stdout))
    if not os.path.exists(os.path.join(workdir, "timeline-report", "report_rank0.png")):
        bad.append("kolo_report drew no report_rank0.png from the timeline:\n" + run.stdout)
    return bad


def check_phases(kolorun, workdir, kolorun_args, start_job, wait_ready, finish_job, fail, np_):
    path_pattern = os.path.join(workdir, "phases-%h.prom")
    path = path_pattern.replace("%h", os.environ.get("KOLO_HOSTNAME", socket.gethostname()))
    if os.path.exists(path):
        os.remove(path)
    timeline = os.path.join(workdir, "timeline.json")
    job, control, log = start_job(kolorun, workdir, {"KOLO_METRICS_FILE": path_pattern,
                                                     "KOLO_TIMELINE": timeline},
                                  kolorun_args, script="phases_job.py")
    wait_ready(job, control, log)
    # The file is rewritten every KOLO_METRICS_INTERVAL: read it until both ranks' counts of
    # the job are in, then check that snapshot (saved, for kolo_report) while the job waits.
    deadline = time.monotonic() + 20
    while True:
        text = open(path).read() if os.path.exists(path) else ""
        families = exposition.parse(text)
        bad = phase_mismatches(families, np_)
        if not bad or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not bad:
        snapshot = os.path.join(workdir, "phases.metrics.txt")
        with open(snapshot, "w") as f:
            f.write(text)
        bad = report_mismatches(families, snapshot, workdir, np_)
    if bad:
        fail(job, log, "--- %s ---\n%s\n%s" % (path, text, "\n".join(bad)))
    finish_job(job, control, log)  # closes the timeline
    bad = timeline_mismatches(timeline, workdir)
    if bad:
        print("FAIL: " + "\n".join(bad))
        return 1
    lines = [l for l in text.splitlines() if l.startswith("kolo_phase_seconds_total{rank=\"0\"")]
    print("OK: the phases add up on every rank and collective:\n" + "\n".join(lines))
    return 0
