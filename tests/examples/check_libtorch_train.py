"""Checks examples/cpp/libtorch_train.cc: trained by `kolorun -np N`, every rank ends with the
same parameters (bit for bit: they apply the same averaged gradients to the same broadcast
start), and those equal a single process trained on the union of the ranks' data
(--union-of N) within a tolerance: the two sum the batch's gradients in a different order,
so they differ by float rounding, compounded over the steps. The per-step losses rank 0 prints
match the reference's, and the loss falls (the example really trains).

Usage: check_libtorch_train.py KOLORUN EXAMPLE NP float32|float64 WORKDIR
"""

import os
import re
import subprocess
import sys

import numpy as np

STEPS = 30
# Absolute tolerance on every parameter and loss (the parameters are of order 1).
TOLERANCE = {"float32": 2e-5, "float64": 1e-12}
TIMEOUT_SECONDS = 180


def run(cmd):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=TIMEOUT_SECONDS)
    if proc.returncode != 0:
        sys.exit("FAIL: %s exited %d:\n%s" % (" ".join(cmd), proc.returncode, proc.stdout))
    return proc.stdout


def losses(output):
    # kolorun prefixes each line a rank prints with [rank]<stdout>:
    lines = re.findall(r"^(?:\[0\]<stdout>:)?step (\d+) loss (\S+)$", output, re.M)
    found = [(int(s), float(v)) for s, v in lines]
    if [s for s, _ in found] != list(range(STEPS)):
        sys.exit("FAIL: expected a loss line for steps 0..%d, got:\n%s" % (STEPS - 1, output))
    return np.array([v for _, v in found])


def parameters(path):
    with open(path) as f:
        return {name: np.array([float(v) for v in values])
                for name, *values in (line.split() for line in f if line.strip())}


def compare(what, got, want, tolerance):
    if got.keys() != want.keys():
        sys.exit("FAIL: %s has parameters %s, expected %s" % (what, sorted(got), sorted(want)))
    for name in want:
        if got[name].shape != want[name].shape:
            sys.exit("FAIL: %s: %s has %d values, expected %d"
                     % (what, name, got[name].size, want[name].size))
        err = np.max(np.abs(got[name] - want[name]), initial=0.0)
        if err > tolerance:
            sys.exit("FAIL: %s: %s differs by up to %.3g (tolerance %.3g)"
                     % (what, name, err, tolerance))


def main():
    kolorun, example, np_, precision, workdir = sys.argv[1:6]
    nranks = int(np_)
    tolerance = TOLERANCE[precision]
    flags = ["--steps", str(STEPS)] + (["--double"] if precision == "float64" else [])
    os.makedirs(workdir, exist_ok=True)
    dist, ref = os.path.join(workdir, "dist"), os.path.join(workdir, "ref")
    env_free = {k: v for k, v in os.environ.items() if not k.startswith("KOLO_")}
    dist_out = run([kolorun, "-np", np_, "--timeout", "150", "--", example] + flags
                   + ["--out", dist])
    ref_out = subprocess.run([example] + flags + ["--out", ref, "--union-of", np_],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env_free, timeout=TIMEOUT_SECONDS)
    if ref_out.returncode != 0:
        sys.exit("FAIL: the single-process reference exited %d:\n%s"
                 % (ref_out.returncode, ref_out.stdout))

    ranks = [parameters("%s.rank%d.txt" % (dist, r)) for r in range(nranks)]
    for r in range(1, nranks):
        compare("rank %d against rank 0" % r, ranks[r], ranks[0], 0.0)
    want = parameters(ref + ".rank0.txt")
    compare("rank 0 against the single-process run", ranks[0], want, tolerance)

    got_loss, want_loss = losses(dist_out), losses(ref_out.stdout)
    err = np.max(np.abs(got_loss - want_loss))
    if err > tolerance:
        sys.exit("FAIL: losses differ from the single-process run by up to %.3g" % err)
    if not got_loss[-1] < 0.5 * got_loss[0]:
        sys.exit("FAIL: the loss did not fall by half: %s" % got_loss)
    print("OK: %d ranks identical; within %.3g of the single-process run; loss %.4g -> %.4g"
          % (nranks, tolerance, got_loss[0], got_loss[-1]))


if __name__ == "__main__":
    main()
