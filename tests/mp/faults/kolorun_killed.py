#!/usr/bin/python3
"""kill -9 of kolorun itself: every rank must be gone within 3 s.

Two ways a rank learns that kolorun died, each tested over shm and tcp:
  direct      the ranks are kolorun's children: PR_SET_PDEATHSIG kills them at once;
  grandchild  each rank is started through `sh -c "JOB & wait"`, so the Kolo process is not
              kolorun's child and PDEATHSIG does not reach it (as for a rank on another host,
              behind ssh). Its session sees the store connection end and fails every op.
Also checked: no /dev/shm segment of those processes is left.

Usage: kolorun_killed.py KOLORUN KOLO_FAULT_JOB
"""
import signal
import subprocess
import sys
import time

from fault_checks import case_env, case_pids, leftover_problems, new_marker, report

BOUND_SECONDS = 3.0


def job_pids(marker, job):
    """Pids of the case's Kolo processes (not kolorun, not the shells)."""
    pids = set()
    for pid in case_pids(marker):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().split(b"\0")[0] == job.encode():
                    pids.add(pid)
        except OSError:
            pass
    return pids


def run(kolorun, job, transport, mode):
    marker = new_marker()
    env = case_env(marker, KOLO_TRANSPORT=transport, KOLO_TIMEOUT_SECONDS="60")
    command = [job, "1000000"] if mode == "direct" else ["/bin/sh", "-c", f"{job} 1000000 & wait"]
    proc = subprocess.Popen([kolorun, "-np", "3"] + command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 30
    ranks = set()
    while time.time() < deadline and len(ranks) < 3:
        ranks = job_pids(marker, job)
        time.sleep(0.05)
    problems = []
    if len(ranks) < 3:
        problems.append(f"only {len(ranks)} ranks started")
    time.sleep(1.0)  # the job is running collectives now
    seen = case_pids(marker)
    proc.send_signal(signal.SIGKILL)
    killed = time.time()
    proc.wait()
    while case_pids(marker) and time.time() - killed < 10:
        time.sleep(0.02)
    gone_after = time.time() - killed
    if gone_after > BOUND_SECONDS and not case_pids(marker):
        problems.append(f"ranks took {gone_after:.2f} s to go (bound {BOUND_SECONDS} s)")
    problems += leftover_problems(marker, seen)  # orphans here: still running 10 s after kill -9
    return report(f"{transport:3} {mode:10} all ranks gone {gone_after:.2f} s after kill -9 of "
                  "kolorun", problems)


def main():
    kolorun, job = sys.argv[1], sys.argv[2]
    ok = True
    for transport in ("shm", "tcp"):
        for mode in ("direct", "grandchild"):
            ok = run(kolorun, job, transport, mode) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
