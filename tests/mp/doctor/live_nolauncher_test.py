#!/usr/bin/python3
"""The live verdict without kolorun (runtime/core/src/live_status.cc): when a collective stalls,
one rank asks every rank through the job's store, merges the answers with kolo-doctor and
prints one verdict on its stderr ("kolo: " lines), and files it beside the dumps.
  mpirun   3 ranks under mpirun (rank 0 hosts a store for the job); rank 1 sleeps in Python:
           it is named alive but missing 'grad.x', with its stack at the sleeping line; ranks 0
           and 2 both stall, and exactly one verdict is printed and filed
  torch    2 ranks started with torchrun's variables (the store rank 0 hosts beside
           MASTER_PORT); the same straggler, named the same way
  stopped  the torch launch, but rank 1 stops itself (SIGSTOP) instead of sleeping: it cannot
           answer, and the verdict names it as gone or frozen, not as a straggler; rank 0's
           native stacks show its caller in the handle wait and its coordinator blocked in the
           cycle's exchange with the frozen rank
Usage: live_nolauncher_test.py MPIRUN PYTHONPATH mpirun|torch|stopped"""
import glob
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
JOB = os.path.join(HERE, "live_job.py")
sys.path.insert(0, HERE)
from verdict_checks import expect, expect_caller_stack, fail, rank_block  # noqa: E402


def straggler_line():
    with open(JOB) as f:
        return next(i for i, line in enumerate(f, 1) if "# STRAGGLER" in line)


def settings(pythonpath, dumps):
    return {"PYTHONPATH": pythonpath, "KOLO_FLIGHT_RECORDER_DIR": dumps,
            "KOLO_STALL_WARNING_SECONDS": "2", "KOLO_TRANSPORT": "shm"}


def check_verdict(out, dumps, waiters):
    if out.count("kolo: live verdict (a collective stalled") != 1:
        fail("expected exactly one live verdict printed", out)
    expect(out, f"rank 1 is alive but has not submitted 'grad.x', which {waiters} wait")
    expect(out, f'File "{JOB}", line {straggler_line()} in main')
    files = glob.glob(os.path.join(dumps, "kolo-verdict.rank*.txt"))
    if len(files) != 1:
        fail(f"expected one verdict file beside the dumps, found {files}", out)
    with open(files[0]) as f:
        expect(f.read(), "rank 1 is alive but has not submitted 'grad.x'", "the verdict file")


def under_mpirun(mpirun, pythonpath, dumps):
    cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "3"]
    for key, value in settings(pythonpath, dumps).items():
        cmd += ["-x", f"{key}={value}"]
    job = subprocess.run(cmd + ["/usr/bin/python3", JOB, "stall", "8"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=100)
    out = job.stdout.decode(errors="replace")
    if job.returncode != 0:
        fail(f"mpirun exited {job.returncode}", out)
    expect(out, "3 of 3 rank(s) answered")
    check_verdict(out, dumps, "ranks 0,2")


def free_port():
    """A free MASTER_PORT whose successor is free too: Kolo's rank 0 listens on MASTER_PORT+1."""
    for _ in range(100):
        with socket.socket() as s, socket.socket() as successor:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            try:
                successor.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    fail("no free pair of adjacent ports on 127.0.0.1")


def start_torch_job(pythonpath, dumps, mode, arg):
    port = free_port()
    ranks = []
    for rank in range(2):
        env = dict(os.environ, **settings(pythonpath, dumps), RANK=str(rank), WORLD_SIZE="2",
                   LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        for key in [k for k in env if k.startswith(("OMPI_", "PMIX_", "SLURM_")) or
                    k in ("KOLO_STORE", "KOLO_JOB_ID")]:
            del env[key]
        ranks.append(subprocess.Popen(["/usr/bin/python3", JOB, mode, arg], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    return ranks


def under_torch(pythonpath, dumps):
    ranks = start_torch_job(pythonpath, dumps, "stall", "8")
    outs = [r.communicate(timeout=100)[0].decode(errors="replace") for r in ranks]
    out = "\n".join(f"--- rank {i} ---\n{o}" for i, o in enumerate(outs))
    for i, r in enumerate(ranks):
        if r.returncode != 0:
            fail(f"rank {i} exited {r.returncode}", out)
    expect(outs[0], "2 of 2 rank(s) answered", "rank 0's output")
    check_verdict(out, dumps, "rank 0")


def stopped(pythonpath, dumps):
    ranks = start_torch_job(pythonpath, dumps, "stop", "0")
    try:
        deadline = time.monotonic() + 60
        seen = b""
        while b"kolo: ranks:" not in seen:
            if time.monotonic() > deadline:
                fail("no verdict within 60 s", seen.decode(errors="replace"))
            line = ranks[0].stdout.readline()
            if not line:
                fail("rank 0 ended before its verdict", seen.decode(errors="replace"))
            seen += line
        time.sleep(0.5)  # the rest of the verdict
        os.set_blocking(ranks[0].stdout.fileno(), False)
        seen += ranks[0].stdout.read() or b""
    finally:
        for r in ranks:
            r.kill()
            r.wait()
    out = seen.decode(errors="replace")
    expect(out, "kolo: live verdict (a collective stalled, asked by rank 0): 1 of 2 rank(s)")
    expect(out, "rank 1 did not answer within 1.0 s: it is gone, or frozen")
    expect(out, "no dump from rank 1")
    if "rank 1 is alive" in out:
        fail("a stopped rank was named alive", out)
    # Rank 0 is blocked in Kolo: its caller in the handle wait, and the cycle in its exchange
    # with the frozen rank (the shared-memory arena's flag wait), run by the coordinator thread
    # or by the waiting caller itself (KOLO_CALLER_DRIVES).
    expect_caller_stack(out, 0, "grad.x")
    block = rank_block(out, 0)
    if "(driving the cycles of process set 0)" not in block:
        expect(block, "coordinator of process set 0 (in a negotiation cycle or its collectives)",
               "rank 0's native stacks")
    expect(block, "kolo::shm::FlagWaiter::", "rank 0's stack in the cycle")


def main():
    mpirun, pythonpath, mode = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as dumps:
        if mode == "mpirun":
            under_mpirun(mpirun, pythonpath, dumps)
        elif mode == "torch":
            under_torch(pythonpath, dumps)
        else:
            stopped(pythonpath, dumps)
    print(f"PASS: {mode}")


if __name__ == "__main__":
    main()
