#!/usr/bin/python3
"""kolorun's live verdict on an elastic job (kolorun -np 3 --min-np 2, elastic_job.py): after a
rank dies and the survivors re-form as a generation of 2 ranks, `kolorun --status` names both
ranks of that generation, numbered as it numbers them (launch rank 1 dies, so launch rank 2
is rank 1 now: the verdict's rank 1 is its pid), and misses none.
  local   every rank on this host (kolorun signals them; the verdict counts the current
          generation's 2 ranks, not the 3 it launched)
  remote  launch rank 2 on another host (this machine's own non-loopback address, reached
          through an `ssh` that runs the command here): kolorun cannot signal generation rank 1
          and asks it through the store, which only a session of the new generation answers
          (exit 77 = skipped where the machine has no such address)
Usage: elastic_status_test.py KOLORUN PYTHONPATH local|remote"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
JOB = os.path.join(HERE, "elastic_job.py")
sys.path.insert(0, HERE)
from live_test import fake_ssh, own_address  # noqa: E402
from verdict_checks import expect, fail, status_while_running  # noqa: E402


def run(kolorun, pythonpath, dumps, remote):
    stop = os.path.join(dumps, "stop")
    hosts, env, transport = (), None, "shm"
    if remote:
        hosts = ("-H", f"127.0.0.1:2,{remote}:1")
        env = dict(os.environ, PATH=fake_ssh(dumps) + ":" + os.environ["PATH"])
        transport = "tcp"
    cmd = [kolorun, "-np", "3", "--min-np", "2", "--timeout", "90", *hosts,
           "-x", f"PYTHONPATH={pythonpath}", "-x", f"KOLO_FLIGHT_RECORDER_DIR={dumps}",
           "-x", f"KOLO_TRANSPORT={transport}", "-x", "KOLO_TIMEOUT_SECONDS=3",
           "-x", "KOLO_SHUTDOWN_TIMEOUT_SECONDS=3",
           "--", "/usr/bin/python3", JOB, "1", stop]
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    verdict, out = status_while_running(kolorun, job, stop,
                                        (b"rank 0 of 2: running", b"rank 1 of 2: running"),
                                        "the job ended before its second generation ran")
    local = "1 of 2" if remote else "2 of 2"
    for needle in (f"live verdict (asked: SIGUSR1 or kolorun --status): {local} rank(s)",
                   "kolo-doctor: 2 dump(s)", "every rank submitted the same ops", "ranks:",
                   "last completed '"):
        expect(verdict, needle, "kolorun --status")
    # Generation rank R is the process that said so: launch rank 0 is rank 0, launch rank 2
    # rank 1.
    running = re.findall(r"rank (\d) of 2: running \(launch rank (\d), pid (\d+)\)", out)
    if len(running) != 2:
        fail(f"expected both ranks of the second generation to say so, found {running}", out)
    for rank, launch, pid in running:
        if (rank, launch) not in (("0", "0"), ("1", "2")):
            fail(f"launch rank {launch} became rank {rank}", out)
        expect(verdict, f"rank {rank} (pid {pid}):", "kolorun --status")
    for wrong in ("no dump from rank", "did not answer", "rank 2"):
        if wrong in verdict:
            fail(f"the verdict of the second generation says {wrong!r}", verdict + out)
    if job.returncode != 0:
        fail(f"the elastic job exited {job.returncode}", out)
    expect(out, "the elastic job goes on without it", "the job's output")


def main():
    kolorun, pythonpath, mode = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as dumps:
        remote = None
        if mode == "remote":
            remote = own_address()
            if remote is None:
                print("SKIP: this machine has no non-loopback IPv4 address")
                sys.exit(77)
        run(kolorun, pythonpath, dumps, remote)
    print(f"PASS: elastic {mode}")


if __name__ == "__main__":
    main()
