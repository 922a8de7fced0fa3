#!/usr/bin/python3
"""kolorun's live verdict (launcher/src/job_status.cc) on real jobs (live_job.py):
  stall   a rank sleeping in Python: when the collective stalls, kolorun prints, unasked, a
          verdict naming the sleeping rank as alive but missing 'grad.x' that rank 0 waits for,
          with its Python stack at the sleeping line, and rank 0's native stack in Kolo's
          handle wait, and files it beside the dumps; kolo-doctor over the dumps shows the same
          native stack
  status  `kolorun --status --pid P` on a healthy job prints every rank's state; --status of a
          pid that is no kolorun fails naming it; the status file goes when the job ends
  remote  as status, with rank 1 on another host (this machine's own non-loopback address,
          reached through an `ssh` that runs the command here): kolorun cannot signal it, so it
          asks it through the store, and its state is in the verdict
Usage: live_test.py KOLORUN PYTHONPATH stall|status|remote"""
import glob
import os
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
JOB = os.path.join(HERE, "live_job.py")
sys.path.insert(0, HERE)
from verdict_checks import expect, expect_caller_stack, fail, status_while_running  # noqa: E402


def job_command(kolorun, pythonpath, dumps, mode, seconds, settings=(), hosts=()):
    transport = "tcp" if hosts else "shm"
    cmd = [kolorun, "-np", "2", "--timeout", "60", *hosts, "-x", f"PYTHONPATH={pythonpath}",
           "-x", f"KOLO_FLIGHT_RECORDER_DIR={dumps}", "-x", f"KOLO_TRANSPORT={transport}"]
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
    if "kolo: live verdict" in out:
        fail("a rank printed a verdict of its own under kolorun, which prints it", out)
    if glob.glob(os.path.join(dumps, "kolo-verdict.rank*.txt")):
        fail("a rank filed a verdict of its own under kolorun", out)
    files = glob.glob(os.path.join(dumps, "kolo-verdict.kolorun*.txt"))
    if len(files) != 1:
        fail(f"expected one verdict file beside the dumps, found {files}", out)
    with open(files[0]) as f:
        expect(f.read(), "rank 1 is alive but has not submitted 'grad.x'", "the verdict file")
    # Rank 0's caller is blocked in Kolo's handle wait: its native stack, live and offline
    # (kolo-doctor over the dumps the verdict left), shows the wait's frames.
    expect_caller_stack(out, 0, "grad.x")
    expect(out, "none of its threads is blocked in Kolo")  # rank 1 sleeps in Python
    doctor = os.path.join(os.path.dirname(kolorun), "kolo-doctor")
    offline = subprocess.run([doctor, "-n", "2", dumps], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=30)
    expect_caller_stack(offline.stdout.decode(errors="replace"), 0, "grad.x",
                        "kolo-doctor over the dumps")


def own_address():
    """A non-loopback IPv4 address of this machine, or None."""
    try:
        words = subprocess.run(["hostname", "-I"], stdout=subprocess.PIPE, timeout=10,
                               check=True).stdout.decode().split()
    except (OSError, subprocess.SubprocessError):
        return None
    return next((w for w in words if "." in w and not w.startswith("127.")), None)


def fake_ssh(directory):
    """An `ssh` that runs the remote line here (its last argument), so a host named by this
    machine's address counts as another host to kolorun."""
    path = os.path.join(directory, "ssh")
    with open(path, "w") as f:
        f.write('#!/bin/sh\nfor last; do :; done\nexec /bin/sh -c "$last"\n')
    os.chmod(path, stat.S_IRWXU)
    return directory


def status(kolorun, pythonpath, dumps, remote=None):
    stop = os.path.join(dumps, "stop")
    hosts, env = (), None
    if remote:
        hosts = ("-H", f"127.0.0.1:1,{remote}:1")
        env = dict(os.environ, PATH=fake_ssh(dumps) + ":" + os.environ["PATH"])
    job = subprocess.Popen(job_command(kolorun, pythonpath, dumps, "status", stop, hosts=hosts),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    verdict, out = status_while_running(kolorun, job, stop,
                                        (b"rank 0: running", b"rank 1: running"),
                                        "the job ended before it ran")
    local = "1 of 2" if remote else "2 of 2"
    for needle in (f"live verdict (asked: SIGUSR1 or kolorun --status): {local} rank(s)",
                   "every rank submitted the same ops", "ranks:", "rank 0 (pid", "rank 1 (pid",
                   "last completed 'step."):
        expect(verdict, needle, "kolorun --status")
    if "no dump from rank" in verdict or "did not answer" in verdict:
        fail("a rank is missing from the verdict", verdict)
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
        if mode == "remote":
            address = own_address()
            if address is None:
                print("SKIP: this machine has no non-loopback IPv4 address")
                sys.exit(77)
            status(kolorun, pythonpath, dumps, address)
        else:
            {"stall": stall, "status": status}[mode](kolorun, pythonpath, dumps)
    print(f"PASS: {mode}")


if __name__ == "__main__":
    main()
