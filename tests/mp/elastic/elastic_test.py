"""Elastic recovery, end to end: a 3-rank job loses a rank mid-epoch, finishes on 2 ranks,
and ends with the same model as a 2-rank run started from the commit the survivors resumed
from. Usage: elastic_test.py KOLORUN PYTHONPATH TRANSPORT"""

import os
import re
import sys
import tempfile

import torch

from elastic_common import expect_same_model, fail, train

STEPS, KILL_AT = 12, 5


def main():
    kolorun_path, pythonpath, transport = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as elastic_dir, tempfile.TemporaryDirectory() as ref_dir:
        settings = ("KOLO_TRANSPORT=" + transport, "KOLO_TIMEOUT_SECONDS=3",
                    "KOLO_SHUTDOWN_TIMEOUT_SECONDS=3")
        run = train(kolorun_path, pythonpath, 3, ["--min-np", "2"],
                    [elastic_dir, str(STEPS), "--kill-launch-rank", "1",
                     "--kill-at-step", str(KILL_AT)], settings)
        if run.returncode != 0:
            fail("the elastic job exited %d" % run.returncode, run.stdout)
        if b"the elastic job goes on without it" not in run.stdout:
            fail("kolorun did not report the survived failure", run.stdout)
        with open(os.path.join(elastic_dir, "resets.txt")) as f:
            resets = f.read()
        match = re.fullmatch(r"resumed at step (\d+) with 2 ranks\n", resets)
        if not match:
            fail("expected one reset to 2 ranks, got %r" % resets, run.stdout)
        resumed = int(match.group(1))
        if resumed != KILL_AT:
            fail("resumed at step %d, expected the commit of step %d" % (resumed, KILL_AT))
        elastic = torch.load(os.path.join(elastic_dir, "final.pt"))
        if elastic["size"] != 2:
            fail("finished with %d ranks" % elastic["size"])

        ref = train(kolorun_path, pythonpath, 2, [],
                    [ref_dir, str(STEPS), "--resume-from",
                     os.path.join(elastic_dir, "commit_%d.pt" % resumed)], settings)
        if ref.returncode != 0:
            fail("the reference run exited %d" % ref.returncode, ref.stdout)
        expect_same_model(elastic_dir, ref_dir)
        print("elastic %s: resumed at step %d on 2 ranks; final model equals the reference"
              % (transport, resumed))


if __name__ == "__main__":
    main()
