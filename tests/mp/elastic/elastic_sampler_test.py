"""ElasticSampler through a real failure: a 3-rank job loses a rank at its 5th batch,
re-forms on 2 ranks and finishes the epoch. The survivors resume knowing every sample any rank
had committed, the failed rank's included (read from its share of the old split), and train
exactly the rest. Usage: elastic_sampler_test.py KOLORUN PYTHONPATH"""

import glob
import json
import sys
import tempfile

from elastic_common import fail, train

N, KILL_AT, VICTIM = 60, 4, 1


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def main():
    kolorun_path, pythonpath = sys.argv[1:3]
    with tempfile.TemporaryDirectory() as out:
        settings = ("KOLO_TIMEOUT_SECONDS=3", "KOLO_SHUTDOWN_TIMEOUT_SECONDS=3")
        run = train(kolorun_path, pythonpath, 3, ["--min-np", "2"],
                    [out, "--kill-launch-rank", str(VICTIM), "--kill-at-batch", str(KILL_AT)],
                    settings, script="elastic_sampler_train.py")
        if run.returncode != 0:
            fail("the elastic job exited %d" % run.returncode, run.stdout)
        starts = records(out + "/starts.jsonl")
        if [s["size"] for s in starts] != [3, 2] or starts[0]["processed"]:
            fail("expected a start on 3 ranks with nothing processed, then one on 2 ranks: %r"
                 % [(s["size"], len(s["processed"])) for s in starts], run.stdout)
        before, after = set(), []
        for path in sorted(glob.glob(out + "/trained_*.jsonl")):
            for r in records(path):
                if r["size"] == 3:
                    before.update(r["indices"])
                else:
                    after.extend(r["indices"])
        victim = records("%s/trained_%d.jsonl" % (out, VICTIM))
        if len(victim) != KILL_AT:
            fail("the failed rank trained %d batches, not %d" % (len(victim), KILL_AT))
        resumed = set(starts[1]["processed"])
        if resumed != before:
            fail("resumed with %d processed samples, but the 3-rank job had trained %d "
                 "(missing %s, extra %s)" % (len(resumed), len(before),
                                             sorted(before - resumed), sorted(resumed - before)))
        if set(after) & resumed:
            fail("samples trained again after the failure: %s" % sorted(set(after) & resumed))
        if resumed | set(after) != set(range(N)):
            fail("samples never trained this epoch: %s" % sorted(set(range(N)) - resumed -
                                                                 set(after)))
        print("elastic sampler: %d samples committed on 3 ranks (the failed rank's %d "
              "included), the other %d trained once on 2 ranks" % (
                  len(resumed), 2 * KILL_AT, N - len(resumed)))


if __name__ == "__main__":
    main()
