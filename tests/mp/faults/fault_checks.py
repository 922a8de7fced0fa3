"""Leftover checks shared by the fault scripts of this folder (fault_matrix.py, kolorun_killed.py,
bench_stop_demo.py).

Every process of a case carries KOLO_FAULT_MATRIX_CASE=<marker> in its environment (kolorun
passes it on to the ranks), so the case's processes are found through /proc whatever their
parent, and what they left behind (processes, /dev/shm segments, listening sockets) is told apart
from what other jobs on the machine own.
"""
import os
import re
import signal
import subprocess
import time
import uuid

MARKER_VAR = "KOLO_FAULT_MATRIX_CASE"
# Kolo's shm segments carry the creator's pid: kolo-<what>-<pid>-<n> (collectives/src/transport/shm).
SHM_SEGMENT = re.compile(r"kolo-.*-(\d+)-\d+$")


def new_marker():
    return uuid.uuid4().hex


def case_env(marker, **overrides):
    """The environment of a case: this process's, plus the marker and the given KOLO_* values."""
    return dict(os.environ, **{MARKER_VAR: marker}, **overrides)


def case_pids(marker):
    """Pids of live processes whose environment carries the case's marker."""
    found = set()
    needle = f"{MARKER_VAR}={marker}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read():
                    found.add(int(entry))
        except OSError:
            pass  # gone meanwhile, or not ours to read
    return found


def watch_case(proc, marker, timeout):
    """Waits for `proc` (kolorun) to end, killing it after `timeout` seconds; returns every pid
    of the case seen meanwhile, for the leftover checks."""
    start = time.time()
    seen = set()
    while proc.poll() is None:
        seen |= case_pids(marker)
        if time.time() - start > timeout:
            proc.kill()
            break
        time.sleep(0.02)
    return seen


def listening_pids():
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return {int(p) for p in re.findall(r"pid=(\d+)", out)}


def shm_segments_of(pids):
    """Names of the /dev/shm segments that one of `pids` created."""
    return sorted(name for name in os.listdir("/dev/shm")
                  if (m := SHM_SEGMENT.match(name)) and int(m.group(1)) in pids)


def leftover_problems(marker, seen, sockets=False):
    """What the case left behind: processes still running (killed here, so that one failed case
    does not spoil the next), /dev/shm segments of any pid in `seen` or still running and, with
    `sockets`, listening sockets of those pids."""
    left = case_pids(marker)
    problems = []
    if left:
        problems.append(f"orphan processes: {sorted(left)}")
    if sockets and (listeners := listening_pids() & (seen | left)):
        problems.append(f"listening sockets of pids {sorted(listeners)}")
    if segments := shm_segments_of(seen | left):
        problems.append(f"/dev/shm leftovers: {segments}")
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return problems


def report(status_line, problems):
    """Prints one result line, the problems indented below it; returns whether there were none."""
    print(f"{'ok' if not problems else 'FAIL':4} {status_line}"
          + "".join("\n     " + p for p in problems), flush=True)
    return not problems
