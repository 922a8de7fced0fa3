"""Elastic growth, end to end: a 2-rank job whose host-discovery script starts reporting a third
slot gets a third rank from kolorun; the ranks re-form at a commit, the newcomer receives the
state from rank 0, and the job ends with the same model as a 3-rank run started from the commit
where the job grew. Usage: elastic_grow_test.py KOLORUN PYTHONPATH"""

import os
import re
import sys
import tempfile

import torch

from elastic_common import expect_same_model, fail, train

STEPS, GROW_AT = 30, 3
SETTINGS = ("KOLO_TIMEOUT_SECONDS=20",)


def main():
    kolorun_path, pythonpath = sys.argv[1:3]
    with tempfile.TemporaryDirectory() as grow_dir, tempfile.TemporaryDirectory() as ref_dir:
        hosts = os.path.join(grow_dir, "hosts")
        with open(hosts, "w") as f:
            f.write("localhost:2\n")
        run = train(kolorun_path, pythonpath, 2,
                    ["--min-np", "2", "--max-np", "3", "--host-discovery-script", "cat " + hosts],
                    [grow_dir, str(STEPS), "--grow-file", hosts, "--grow-at-step", str(GROW_AT),
                     "--grow-to", "3", "--step-sleep", "0.2"], SETTINGS)
        if run.returncode != 0:
            fail("the growing job exited %d" % run.returncode, run.stdout)
        if b"elastic: started rank 2 on host" not in run.stdout:
            fail("kolorun did not start a third rank", run.stdout)
        with open(os.path.join(grow_dir, "resets.txt")) as f:
            resets = f.read()
        match = re.fullmatch(r"resumed at step (\d+) with 3 ranks\n", resets)
        if not match:
            fail("expected one re-formation to 3 ranks, got %r" % resets, run.stdout)
        resumed = int(match.group(1))
        if not GROW_AT <= resumed < STEPS:
            fail("grew at step %d, outside [%d, %d)" % (resumed, GROW_AT, STEPS))
        grown = torch.load(os.path.join(grow_dir, "final.pt"))
        if grown["size"] != 3:
            fail("finished with %d ranks" % grown["size"], run.stdout)

        ref = train(kolorun_path, pythonpath, 3, [],
                    [ref_dir, str(STEPS), "--resume-from",
                     os.path.join(grow_dir, "commit_%d.pt" % resumed)], SETTINGS)
        if ref.returncode != 0:
            fail("the reference run exited %d" % ref.returncode, ref.stdout)
        expect_same_model(grow_dir, ref_dir)
        print("elastic growth: re-formed at step %d on 3 ranks; final model equals the "
              "reference" % resumed)


if __name__ == "__main__":
    main()
