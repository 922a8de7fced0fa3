#!/usr/bin/python3
"""The fault matrix: inject one fault per case into a 3-rank kolo-bench job under kolorun and
check Kolo's promise (docs/RELIABILITY.md).

Each case runs kolorun -np 3 kolo_fault_job (fault_job.cc: 5 allreduces per step, 4 fused) with
KOLO_FAULT_INJECT="rank=V,op=allreduce,seq=S,phase=P,action=A" and checks:
  - the fault fired (the victim's "KOLO fault injection" line, with its wall-clock time);
  - kolorun exits with the victim's code (kill 137, abort 134, exit:N N, stop 128+SIGSTOP = 147,
    drop_conn and corrupt: the job's error exit 2; corrupt flips a byte of the victim's next
    TCP data frame, which the receiver's CRC32C check catches);
  - every survivor reports an error (never a wrong result), all naming the same failed rank,
    the victim (for drop_conn, the victim's own report, published before it exits);
  - each survivor reported within the bound after the fault fired (from kolorun's
    --prefix-timestamp on the survivor's error line; generous, the machine is shared);
  - nothing of the case is left: no process (found by a marker in their environment), no
    listening socket of those processes, no /dev/shm segment they created.

Usage: fault_matrix.py KOLORUN KOLO_FAULT_JOB --transport shm|tcp
       --action kill|stop|exit|abort|drop_conn|corrupt
       [--victims 0,1,2] [--phases negotiation,fusion_copy,reduce_scatter,allgather]
       [--streams N --drop-stream S]   (tcp: N connections per pair, drop_conn:S severs stream S)
"""
import argparse
import datetime
import re
import signal
import subprocess
import sys
import tempfile
import time

from fault_checks import case_env, leftover_problems, new_marker, report, watch_case

NP = 3
TIMEOUT_SECONDS = 5  # KOLO_TIMEOUT_SECONDS of the jobs
EXPECTED_CODE = {"kill": 128 + signal.SIGKILL, "abort": 128 + signal.SIGABRT, "exit": 3,
                 "stop": 128 + signal.SIGSTOP, "drop_conn": 2, "corrupt": 2}
ACTION_SPEC = {"kill": "kill", "abort": "abort", "exit": "exit:3", "stop": "stop",
               "drop_conn": "drop_conn", "corrupt": "corrupt"}
FAILED_RANK = re.compile(r"rank (\d+) (?:\(host [^)]*\) )?failed: ")
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\]")
FIRED = re.compile(r"KOLO fault injection: rank (\d+) pid (\d+) fires .* \(wall_us=(\d+)\)")


def run_case(args, victim, phase, seq, flight_dir):
    marker = new_marker()
    action = ACTION_SPEC[args.action]
    if args.action == "drop_conn" and args.drop_stream is not None:
        action = f"drop_conn:{args.drop_stream}"
    spec = f"rank={victim},op=allreduce,seq={seq},phase={phase},action={action}"
    env = case_env(marker, KOLO_FAULT_INJECT=spec, KOLO_TRANSPORT=args.transport,
                   KOLO_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS), KOLO_FLIGHT_RECORDER_DIR=flight_dir)
    if args.transport == "tcp":
        env["KOLO_ALLREDUCE_ALGO"] = "ring"  # reduce_scatter and allgather stages at every size
        env["KOLO_TCP_STREAMS"] = str(args.streams)
    placement = []
    if phase == "hier_cross":
        # Three simulated hosts of one rank: every rank takes part in the cross-host stage of
        # the hierarchical allreduce (forced), which runs over TCP between the "hosts".
        placement = ["-H", "a:1,b:1,c:1", "--local-hosts"]
        env["KOLO_TRANSPORT"] = "auto"
        env["KOLO_HIERARCHICAL_ALLREDUCE"] = "1"
        env.pop("KOLO_ALLREDUCE_ALGO", None)
    cmd = [args.kolorun, "--prefix-timestamp", "-np", str(NP)] + placement + [
        args.job, str(args.steps)]
    start = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen = watch_case(proc, marker, args.case_timeout)
    out = proc.communicate()[0]
    code = proc.returncode
    elapsed = time.time() - start
    problems = []

    fired = FIRED.search(out)
    if not fired:
        problems.append("the fault never fired")
    elif int(fired.group(1)) != victim:
        problems.append(f"the fault fired on rank {fired.group(1)}, not {victim}")
    if code != EXPECTED_CODE[args.action]:
        problems.append(f"kolorun exited {code}, expected {EXPECTED_CODE[args.action]}")

    named = {}
    verdicts = {}
    latest = 0.0
    for line in out.splitlines():
        stamp = STAMP.match(line)
        m = re.search(r"\[(\d+)\]<stderr>:fault_job: ", line)
        if not m:
            continue
        rank = int(m.group(1))
        failed = FAILED_RANK.search(line)
        # A survivor may print more than one line (its error, then what it did about it): the
        # first line that names a failed rank is its verdict.
        if named.get(rank) is None:
            named[rank] = int(failed.group(1)) if failed else None
            verdicts[rank] = line
        if fired and stamp:
            t = datetime.datetime.strptime(stamp.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            latency = t - int(fired.group(3)) / 1e6
            latest = max(latest, latency) if rank != victim else latest
            if rank != victim and latency > args.bound:
                problems.append(f"rank {rank} reported {latency:.2f} s after the fault "
                                f"(bound {args.bound} s)")
    survivors = [r for r in range(NP) if r != victim]
    for r in survivors:
        if r not in named:
            problems.append(f"survivor {r} reported no error")
        elif named[r] != victim:
            problems.append(f"survivor {r} named rank {named[r]} as failed, not {victim}")
        elif args.action == "drop_conn" and f"[seen by rank {victim}]" not in verdicts[r]:
            # The victim publishes itself as failed when it cuts its connections, before it
            # exits: kolorun's later record of the exit must not be what the survivors waited for.
            problems.append(f"survivor {r}'s verdict is not the victim's own report")

    time.sleep(0.2)  # let the kernel finish reaping what kolorun killed last
    problems += leftover_problems(marker, seen, sockets=True)
    report(f"{args.transport:3} {action:11} victim={victim} phase={phase:14} exit={code:<3} "
           f"survivors_latest={latest:5.2f}s elapsed={elapsed:5.2f}s", problems)
    if problems and args.verbose:
        print(out)
    elif problems:
        # What the ranks said, so a failure that does not reproduce can still be read.
        said = [line for line in out.splitlines() if "fault_job" in line or "kolorun" in line]
        print("\n".join("     | " + line for line in said[-30:]))
    return not problems


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kolorun")
    parser.add_argument("job", help="kolo_fault_job")
    parser.add_argument("--transport", choices=["shm", "tcp"], required=True)
    parser.add_argument("--action", choices=sorted(EXPECTED_CODE), required=True)
    parser.add_argument("--victims", default="0,1,2")
    parser.add_argument("--phases", default="negotiation,fusion_copy,reduce_scatter,allgather")
    parser.add_argument("--seq", type=int, default=12)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--bound", type=float, default=TIMEOUT_SECONDS + 5.0)
    parser.add_argument("--case-timeout", type=float, default=30.0)
    parser.add_argument("--streams", type=int, default=1, help="KOLO_TCP_STREAMS (tcp)")
    parser.add_argument("--drop-stream", type=int, help="drop_conn:S: sever only stream S")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="kolo-fault-matrix.") as flight_dir:
        for victim in [int(v) for v in args.victims.split(",")]:
            for phase in args.phases.split(","):
                ok = run_case(args, victim, phase, args.seq, flight_dir) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
