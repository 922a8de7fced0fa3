#!/usr/bin/python3
"""The demo of docs/RELIABILITY.md, as a test:

  KOLO_TIMEOUT_SECONDS=3 KOLO_FAULT_INJECT="rank=1,op=allreduce,seq=20,action=stop" \\
      kolorun -np 3 kolo-bench allreduce -b 1M -e 1M -n 200

must end non-zero (128 + SIGSTOP, the stopped rank's code) within 10 s, leaving no process and
no /dev/shm segment behind. Run on kolo-bench's raw path (the default) and through the runtime.
Also: a kill at phase=hier_cross (hierarchical allreduce over two loopback hosts) fires there and
ends the job with 137 (or with 2 when a survivor that saw the victim's process gone exited
before kolorun could reap the victim; its last words, in kolorun's verdict, must say so).

Usage: bench_stop_demo.py KOLORUN KOLO_BENCH
"""
import signal
import subprocess
import sys
import time

from fault_checks import case_env, leftover_problems, new_marker, report, watch_case


def survivor_named_victim_gone(out, code, spec):
    """A killed victim's peer can see its process gone (its mappings and files released, or
    its TCP connection reset) and exit with its error (2) before the kernel lets kolorun reap
    the victim; kolorun's first failure is then that survivor, whose last words must name the
    victim as gone or its connection as lost."""
    if "action=kill" not in spec or code != 2:
        return False
    victim = spec.split("rank=")[1].split(",")[0]
    lines = [line for line in out.splitlines() if line.startswith("kolorun:")]
    # Gone as the survivor saw it: its process (shared memory), or its connection (TCP).
    names_victim = [f"rank {victim} exited (its process is gone)",
                    f"connection to rank {victim} ("]
    return any(line.startswith("kolorun: first failure:") for line in lines) and any(
        words in line and ("gone" in line or " lost: " in line)
        for line in lines for words in names_victim)


def run(kolorun, bench, extra, spec="rank=1,op=allreduce,seq=20,action=stop",
        expected=128 + signal.SIGSTOP, hosts=None):
    marker = new_marker()
    env = case_env(marker, KOLO_TIMEOUT_SECONDS="3", KOLO_FAULT_INJECT=spec)
    placement = ["-np", "3"] if hosts is None else ["-np", "4", "-H", hosts]
    if hosts is not None:
        env["KOLO_ALLREDUCE_ALGO"] = "hier"
    start = time.time()
    proc = subprocess.Popen([kolorun] + placement + [bench, "allreduce", "-b", "1M", "-e", "1M",
                                                     "-n", "200"] + extra, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = watch_case(proc, marker, timeout=30)
    out = proc.communicate()[0]
    elapsed = time.time() - start
    problems = []
    described = spec if "phase=" in spec else spec.replace(",action", ",phase=any,action")
    if "fires " + described not in out:
        problems.append("the fault never fired")
    if proc.returncode != expected and not survivor_named_victim_gone(out, proc.returncode, spec):
        problems.append(f"kolorun exited {proc.returncode}, expected {expected}")
    if elapsed > 10:
        problems.append(f"took {elapsed:.1f} s (bound 10 s)")
    time.sleep(0.2)  # let the kernel finish reaping what kolorun killed last
    problems += leftover_problems(marker, seen)
    label = " ".join(extra) or ("raw path" if hosts is None else "hier_cross")
    ok = report(f"{label:14} exit={proc.returncode} {elapsed:.2f} s", problems)
    if not ok:
        print(out)
    return ok


def main():
    kolorun, bench = sys.argv[1], sys.argv[2]
    ok = run(kolorun, bench, [])
    ok = run(kolorun, bench, ["--path", "runtime"]) and ok
    # The hierarchical allreduce's cross-host stage, two loopback "hosts" of two ranks, on the
    # raw path (the runtime's case is in the fault matrix: faults.matrix.hier_cross.*).
    ok = run(kolorun, bench, [], spec="rank=1,op=allreduce,seq=12,phase=hier_cross,action=kill",
             expected=128 + signal.SIGKILL, hosts="127.0.0.1:2,127.0.0.2:2") and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
