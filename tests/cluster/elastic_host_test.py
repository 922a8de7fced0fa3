"""A whole host lost from an elastic job: on 2 emulated hosts x 2 ranks (run.sh, 2 Gbit/s), the
job trains (tests/mp/elastic/elastic_train.py, kolorun --min-np 2); at step HOLD_AT both ranks of
h2 stop in their step, and every process of h2 (its sshd and both ranks) is killed at once. The
job must go on with h1's two ranks, resume from the commit of step HOLD_AT, finish, and end with
the same model as a 2-rank run started from that commit.

Usage: elastic_host_test.py RUN_SH KOLORUN PYTHONPATH
       (inside the cluster: elastic_host_test.py --inside KOLORUN PYTHONPATH OUTDIR)
Exit 77 (skipped, reason on stdout) where run.sh cannot build the cluster."""

import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "mp", "elastic"))

STEPS, HOLD_AT = 10, 4
H2_RANKS = (2, 3)  # kolorun -H h1:2,h2:2 puts launch ranks 2 and 3 on h2
SETTINGS = ("KOLO_TRANSPORT=tcp", "KOLO_TIMEOUT_SECONDS=5", "KOLO_SHUTDOWN_TIMEOUT_SECONDS=5")
LIMIT_S = 150  # below the ctest TIMEOUT, so run.sh still removes the cluster


def fail(message, output=b""):
    print(output.decode(errors="replace") if isinstance(output, bytes) else output)
    print("FAILED:", message)
    sys.exit(1)


def kolorun_cmd(kolorun, pythonpath, np, extra, script_args):
    cmd = [kolorun, "-np", str(np), "--timeout", "120"] + extra
    for setting in ("PYTHONPATH=" + pythonpath, "PYTHONDONTWRITEBYTECODE=1") + SETTINGS:
        cmd += ["-x", setting]
    return cmd + ["--", "/usr/bin/python3", os.path.join(HERE, "..", "mp", "elastic",
                                                         "elastic_train.py")] + script_args


def kill_host(name):
    """SIGKILL every process of the emulated host NAME (its network namespace) at once."""
    namespace = "kc%s-%s" % (os.environ["CLUSTER_TAG"], name)
    pids = subprocess.run(["ip", "netns", "pids", namespace], stdout=subprocess.PIPE,
                          check=True).stdout.split()
    subprocess.run(["kill", "-9"] + [p.decode() for p in pids], check=False)
    return len(pids)


def inside(kolorun, pythonpath, outdir):
    cmd = kolorun_cmd(kolorun, pythonpath, 4, ["-H", os.environ["CLUSTER_HOSTS"], "--min-np", "2"],
                      [outdir, str(STEPS), "--hold-launch-ranks",
                       ",".join(map(str, H2_RANKS)), "--hold-at-step", str(HOLD_AT)])
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    held = [os.path.join(outdir, "held.%d" % r) for r in H2_RANKS]
    deadline = time.monotonic() + 90
    while not all(map(os.path.exists, held)):
        if job.poll() is not None or time.monotonic() > deadline:
            job.kill()
            fail("h2's ranks never reached step %d" % HOLD_AT, job.communicate()[0])
        time.sleep(0.05)
    killed = kill_host("h2")
    print("killed every process of h2 (%d) at step %d" % (killed, HOLD_AT))
    try:
        out = job.communicate(timeout=100)[0]
    except subprocess.TimeoutExpired:
        job.kill()
        fail("the job was still running 100 s after h2 was lost (a hang)", job.communicate()[0])
    sys.stdout.write(out.decode(errors="replace"))
    if job.returncode != 0:
        fail("the elastic job exited %d after losing h2" % job.returncode)
    for rank in H2_RANKS:
        if not re.search(rb"kolorun: rank %d .*lost its host.*the elastic job goes on without it"
                         % rank, out):
            fail("kolorun did not report rank %d's lost host as survived" % rank)


def outside(run_sh, kolorun, pythonpath):
    with tempfile.TemporaryDirectory() as job_dir, tempfile.TemporaryDirectory() as ref_dir:
        os.chmod(job_dir, 0o777)
        run = subprocess.run(["timeout", "-k", "10", str(LIMIT_S), run_sh, "--hosts", "2",
                              "--slots", "2", "--link", "2gbit", "--", "/usr/bin/python3",
                              os.path.abspath(__file__), "--inside", kolorun, pythonpath,
                              job_dir], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if run.returncode == 77:
            sys.stdout.write(run.stdout.decode(errors="replace"))
            sys.exit(77)
        if run.returncode != 0:
            fail("the cluster run exited %d" % run.returncode, run.stdout)
        with open(os.path.join(job_dir, "resets.txt")) as f:
            resets = f.read().splitlines()
        # Each lost rank is a new generation; the two may be seen as one reset or two.
        if not resets or resets[-1] != "resumed at step %d with 2 ranks" % HOLD_AT or any(
                not line.startswith("resumed at step %d " % HOLD_AT) for line in resets):
            fail("expected the job to resume at step %d on 2 ranks, got %r" % (HOLD_AT, resets),
                 run.stdout)
        ref = subprocess.run(kolorun_cmd(kolorun, pythonpath, 2, [], [
            ref_dir, str(STEPS), "--resume-from",
            os.path.join(job_dir, "commit_%d.pt" % HOLD_AT)]), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=120)
        if ref.returncode != 0:
            fail("the reference run exited %d" % ref.returncode, ref.stdout)
        from elastic_common import expect_same_model
        expect_same_model(job_dir, ref_dir)
        for line in run.stdout.decode(errors="replace").splitlines():
            if line.startswith(("kolorun:", "killed")):
                print(line)
        print("resets: %s" % "; ".join(resets))
        print("h2 lost at step %d: the job went on with h1's 2 ranks from that commit; final "
              "model equals the reference" % HOLD_AT)


def main():
    if sys.argv[1] == "--inside":
        inside(*sys.argv[2:5])
    else:
        outside(*sys.argv[1:4])


if __name__ == "__main__":
    main()
