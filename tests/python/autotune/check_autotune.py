"""Runs autotune_job.py under kolorun with autotuning on and checks the job from outside:
every rank applied the same settings at the same cycles (the debug lines SetTuning logs), the
tuner tried more than one setting and settled once (its info line), every rank's results were
exact (the job's own check), and rank 0 wrote the CSV log: the header, one row per trial, then
the chosen setting. --horovod sets the HOROVOD_* aliases instead of the KOLO_* names;
KOLO_TRANSPORT, when set, is passed on to the job.

usage: check_autotune.py KOLORUN NP STEPS LOG_PATH [--horovod]"""

import os
import re
import subprocess
import sys

HEADER = ("cycle_time_ms,tensor_fusion_threshold,large_tensor_threshold,allreduce_small,"
          "allreduce_medium,allreduce_large,score")
APPLY = re.compile(r"\[(\d+)\] KOLO DEBUG autotune: process set 0 cycle (\d+): applying (.*)$")
SETTLED = re.compile(r"\[0\] KOLO INFO autotune: process set 0 settled after (\d+) trials "
                     r"\((\d+) steps\): (.*) \(score")


def fail(message, output=""):
    print("FAIL: " + message)
    if output:
        print("---- job output ----\n" + output)
    sys.exit(1)


def run_job(kolorun, np_, steps, log_path, horovod):
    prefix = "HOROVOD_" if horovod else "KOLO_"
    here = os.path.dirname(os.path.abspath(__file__))
    env = [prefix + "AUTOTUNE=1", prefix + "AUTOTUNE_LOG=" + log_path,
           prefix + "AUTOTUNE_WARMUP_SAMPLES=1", prefix + "AUTOTUNE_STEPS_PER_SAMPLE=1",
           "KOLO_AUTOTUNE_SAMPLES_PER_TRIAL=1", "KOLO_LOG_LEVEL=debug",
           "KOLO_LOG_SUBSYS=autotune", "KOLO_TIMEOUT_SECONDS=60",
           "PYTHONPATH=" + os.environ.get("PYTHONPATH", ""), "PYTHONDONTWRITEBYTECODE=1"]
    if "KOLO_TRANSPORT" in os.environ:
        env.append("KOLO_TRANSPORT=" + os.environ["KOLO_TRANSPORT"])
    cmd = [kolorun, "-np", str(np_), "--timeout", "120"]
    for e in env:
        cmd += ["-x", e]
    cmd += ["--", sys.executable, os.path.join(here, "autotune_job.py"), str(steps)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=150)
    return proc.returncode, proc.stdout


def check_applied(output, np_):
    applied = {r: [] for r in range(np_)}
    for line in output.splitlines():
        m = APPLY.search(line)
        if m:
            applied.setdefault(int(m.group(1)), []).append((int(m.group(2)), m.group(3)))
    if len(applied[0]) < 2:
        fail("rank 0 applied %d settings; tuning should try several" % len(applied[0]), output)
    for r in range(1, np_):
        if applied[r] != applied[0]:
            fail("rank %d applied %r but rank 0 applied %r" % (r, applied[r], applied[0]), output)
    return applied[0]


def check_log(log_path, trials, chosen_row_expected):
    with open(log_path) as f:
        rows = [line.rstrip("\n") for line in f]
    if rows[0] != HEADER:
        fail("log header is %r, expected %r" % (rows[0], HEADER))
    if len(rows) != 1 + trials + 1:
        fail("log has %d rows; expected the header, %d trials and the chosen setting"
             % (len(rows), trials))
    for row in rows[1:]:
        fields = row.split(",")
        if len(fields) != 7 or not float(fields[6]) > 0:
            fail("malformed log row %r" % row)
    if rows[-1] not in rows[1:-1]:
        fail("the chosen setting %r is none of the trials" % rows[-1])
    if not rows[-1].startswith(chosen_row_expected):
        fail("the chosen row %r does not start with %r" % (rows[-1], chosen_row_expected))


def main():
    kolorun, np_, steps, log_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    horovod = "--horovod" in sys.argv[5:]
    if os.path.exists(log_path):
        os.remove(log_path)
    code, output = run_job(kolorun, np_, steps, log_path, horovod)
    if code != 0:
        fail("the job exited %d" % code, output)
    for r in range(np_):
        if "rank %d: %d steps exact" % (r, steps) not in output:
            fail("rank %d did not report %d exact steps" % (r, steps), output)
    applied = check_applied(output, np_)
    settled = [m for m in map(SETTLED.search, output.splitlines()) if m]
    if len(settled) != 1:
        fail("expected one 'settled' line from rank 0, found %d" % len(settled), output)
    trials, tuned_steps, chosen = int(settled[0].group(1)), int(settled[0].group(2)), settled[0].group(3)
    if tuned_steps >= steps:
        fail("tuning took %d of the job's %d steps" % (tuned_steps, steps), output)
    if applied[-1][1] != chosen:
        fail("the last setting applied (%s) is not the chosen one (%s)" % (applied[-1][1], chosen),
             output)
    m = re.match(r"fusion threshold .*, cycle time ([0-9.]+) ms", chosen)
    check_log(log_path, trials, m.group(1) if m else "")
    print("ok: %d ranks applied the same %d settings at the same cycles; settled after %d "
          "trials (%d steps) on %s" % (np_, len(applied), trials, tuned_steps, chosen))


if __name__ == "__main__":
    main()
