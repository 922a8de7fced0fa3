#!/usr/bin/python3
"""kolorun's live verdict (launcher/src/job_status.cc) on real jobs (live_job.py):
  stall   a rank sleeping in Python: when the collective stalls, kolorun prints, unasked, a
          verdict naming the sleeping rank as alive but missing 'grad.x' that rank 0 waits for,
          with its Python stack at the sleeping line, and files it beside the dumps
  status  `kolorun --status --pid P` on a healthy job prints every rank's state; --status of a
          pid that is no kolorun fails naming it; the status file goes when the job ends
Usage: live_test.py KOLORUN PYTHONPATH stall|status"""
import glob
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
JOB = os.path.join(HERE, "live_job.py")


def fail(message, output=""):
    print(f"FAIL: {message}\n{output}")
    sys.exit(1)


def expect(text, needle, what="the verdict"):
    if needle not in text:
        fail(f"{what} lacks {needle!r}", text)


def job_command(kolorun, pythonpath, dumps, mode, seconds, settings=()):
    cmd = [kolorun, "-np", "2", "--timeout", "60", "-x", f"PYTHONPATH={pythonpath}",
           "-x", f"KOLO_FLIGHT_RECORDER_DIR={dumps}", "-x", "KOLO_TRANSPORT=shm"]
    for setting in settings:
        cmd += ["-x", setting]
    return cmd + ["--", "/usr/bin/python3", JOB, mode, str(seconds)]


def straggler_line():
    with open(JOB) as f:
        return next(i for i, line in enumerate(f, 1) if "# STRAGGLER" in line)


def stall(kolorun, pythonpath, dumps):
    job = subprocess.run(job_command(kolorun, pythonpath, dumps, "stall", 8,
                                     ["KOLO_STALL_WARNING_SECONDS=2"]),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=90)
    out = job.stdout.decode(errors="replace")
    if job.returncode != 0:
        fail(f"the job exited {job.returncode}", out)
    expect(out, "kolorun: live verdict (a collective stalled)")
    # Had the verdict come after the sleep, rank 1 would not be missing any more.
    expect(out, "rank 1 is alive but has not submitted 'grad.x', which rank 0 waits for")
    expect(out, f'File "{JOB}", line {straggler_line()} in main')
    expect(out, "rank 0 (pid")
    files = glob.glob(os.path.join(dumps, "kolo-verdict.kolorun*.txt"))
    if len(files) != 1:
        fail(f"expected one verdict file beside the dumps, found {files}", out)
    with open(files[0]) as f:
        expect(f.read(), "rank 1 is alive but has not submitted 'grad.x'", "the verdict file")


def status(kolorun, pythonpath, dumps):
    stop = os.path.join(dumps, "stop")
    job = subprocess.Popen(job_command(kolorun, pythonpath, dumps, "status", stop),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = b""
    while b"rank 1: running" not in seen or b"rank 0: running" not in seen:
        line = job.stdout.readline()
        if not line:
            fail("the job ended before it ran", seen.decode(errors="replace"))
        seen += line
    asked = subprocess.run([kolorun, "--status", "--pid", str(job.pid)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
    verdict = asked.stdout.decode(errors="replace")
    open(stop, "w").close()  # the job ends once both ranks see it
    rest, _ = job.communicate(timeout=90)
    out = (seen + rest).decode(errors="replace")
    if asked.returncode != 0:
        fail(f"kolorun --status exited {asked.returncode}", verdict + out)
    for needle in ("live verdict (asked: SIGUSR1 or kolorun --status): 2 of 2 rank(s)",
                   "every rank submitted the same ops", "ranks:", "rank 0 (pid", "rank 1 (pid",
                   "last completed 'step."):
        expect(verdict, needle, "kolorun --status")
    if job.returncode != 0:
        fail(f"the job exited {job.returncode} after --status", out)
    expect(out, "kolorun: live verdict (asked", "the job's own output")
    if os.path.exists(f"/tmp/kolorun-{os.getuid()}/{job.pid}.status"):
        fail("the status file outlived its kolorun")
    stray = subprocess.run([kolorun, "--status", "--pid", str(os.getpid())],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if stray.returncode != 1:
        fail(f"--status of a pid that is no kolorun exited {stray.returncode}")
    expect(stray.stdout.decode(), f"kolorun {os.getpid()} is not running here",
           "--status of a stray pid")


def main():
    kolorun, pythonpath, mode = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as dumps:
        {"stall": stall, "status": status}[mode](kolorun, pythonpath, dumps)
    print(f"PASS: {mode}")


if __name__ == "__main__":
    main()
