#!/usr/bin/python3
"""kolo-doctor on the dumps of a real job gone wrong (doctor_job.py): its verdict names the
ranks on each side of a divergence and what each submitted, the op every rank waits in, and
the rank that left no dump.
Usage: doctor_test.py KOLORUN DOCTOR PYTHONPATH diverge|dead"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def fail(message, output=""):
    print(f"FAIL: {message}\n{output}")
    sys.exit(1)


def expect(lines, needle, output):
    if not any(needle in line for line in lines):
        fail(f"the verdict lacks {needle!r}", output)


def main():
    kolorun, doctor, pythonpath, mode = sys.argv[1:5]
    with tempfile.TemporaryDirectory() as dumps:
        job = subprocess.run(
            [kolorun, "-np", "3", "--timeout", "60", "-x", f"PYTHONPATH={pythonpath}",
             "-x", f"KOLO_FLIGHT_RECORDER_DIR={dumps}", "-x", "KOLO_TIMEOUT_SECONDS=30",
             "-x", "KOLO_TRANSPORT=shm", "--", "/usr/bin/python3",
             os.path.join(HERE, "doctor_job.py"), mode],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=90)
        job_out = job.stdout.decode(errors="replace")
        ranks = (0, 1, 2) if mode == "diverge" else (0, 1)
        for r in ranks:
            if f"rank {r}: dumped" not in job_out:
                fail(f"rank {r} wrote no dump", job_out)
        run = subprocess.run([doctor, "-n", "3", dumps], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=30)
        out = run.stdout.decode(errors="replace")
        print(out)
        if run.returncode != 0:
            fail(f"kolo-doctor exited {run.returncode}", out)
        lines = out.splitlines()
        if mode == "diverge":
            expect(lines, "DIVERGED after 'step.4'", out)
            expect(lines, "ranks 0,1: 'grad.a' (allreduce, 64 B) negotiating", out)
            expect(lines, "submitted by 0,1 (missing 2)", out)
            expect(lines, "rank 2: 'grad.b' (allreduce, 64 B) negotiating", out)
            expect(lines, "rank 2 waits in 'grad.b'", out)
        else:
            expect(lines, "no dump from rank 2", out)
            expect(lines, "every rank submitted the same ops", out)
            expect(lines, "first failure recorded: rank", out)
            expect(lines, "rank 2 exited (its process is gone)", out)
        print(f"PASS: {mode}")


if __name__ == "__main__":
    main()
