"""Runs one of examples/horovod_style/ under kolorun -np 2 with small sizes and checks what it
prints: the job succeeds, every figure is finite and in range, the summaries agree with the
per-iteration lines, and figures averaged over the ranks are the same on every rank.

    check_horovod_example.py KOLORUN EXAMPLES_DIR PYTHONPATH NAME WORKDIR

NAME: synthetic, synthetic_elastic, mnist, imagenet or imagenet_elastic. Exits non-zero naming what was wrong.
"""

import math
import os
import re
import subprocess
import sys

NP = 2
SYNTHETIC_ARGS = ["--model", "small_cnn", "--image-size", "32", "--batch-size", "8",
                  "--num-warmup-batches", "2", "--num-batches-per-iter", "2", "--num-iters", "3"]
MNIST_ARGS = ["--epochs", "2", "--train-size", "512", "--test-size", "256", "--batch-size", "32",
              "--log-interval", "4", "--fp16-allreduce"]
IMAGENET_ARGS = ["--model", "small_resnet", "--image-size", "16", "--num-classes", "10",
                 "--train-size", "64", "--val-size", "32", "--batch-size", "4",
                 "--batches-per-allreduce", "2", "--val-batch-size", "8", "--warmup-epochs", "1"]
ELASTIC_ARGS = ["--model", "small_resnet", "--image-size", "16", "--num-classes", "10",
                "--train-size", "50", "--batch-size", "4", "--batches-per-commit", "2",
                "--epochs", "2"]
ELASTIC_TRAIN_SIZE = 50
NUMBER = r"([-+0-9.eE]+|nan|inf)"


def fail(text):
    sys.exit("check_horovod_example: " + text)


def run(kolorun, script, pythonpath, args):
    cmd = [kolorun, "-np", str(NP), "--timeout", "120", "-x", "PYTHONPATH=" + pythonpath,
           "-x", "PYTHONDONTWRITEBYTECODE=1", "--", sys.executable, script] + args
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=150)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        fail("%s exited with %d" % (os.path.basename(script), proc.returncode))
    lines = {r: [] for r in range(NP)}
    for line in proc.stdout.splitlines():
        m = re.match(r"^\[(\d+)\]<stdout>:(.*)$", line)
        if m:
            lines[int(m.group(1))].append(m.group(2))
    return lines


def finite(text, label, low=-math.inf, high=math.inf):
    value = float(text)
    if not (math.isfinite(value) and low <= value <= high):
        fail("%s is %r, not a finite value in [%g, %g]" % (label, text, low, high))
    return value


def check_synthetic(lines, iters):
    out = lines[0]
    if "Number of CPUs: %d" % NP not in out and "Number of GPUs: %d" % NP not in out:
        fail("rank 0 did not print the number of ranks (%d)" % NP)
    rates = [finite(m.group(2), "Iter #%s img/sec" % m.group(1), low=1e-6)
             for m in (re.match(r"Iter #(\d+): %s img/sec per [CG]PU" % NUMBER, s) for s in out)
             if m]
    if len(rates) != iters:
        fail("rank 0 printed %d Iter lines, not %d" % (len(rates), iters))
    mean = summary(out, r"Img/sec per [CG]PU: %s \+-%s" % (NUMBER, NUMBER))
    if abs(mean - sum(rates) / iters) > 0.1 + 1e-3 * mean:
        fail("mean img/sec %.1f is not the mean of the Iter lines %r" % (mean, rates))
    total = summary(out, r"Total img/sec on %d [CG]PU\(s\): %s \+-%s" % (NP, NUMBER, NUMBER))
    if abs(total - NP * mean) > 0.1 + 1e-3 * total:
        fail("total img/sec %.1f is not %d x %.1f" % (total, NP, mean))
    if any(lines[r] for r in range(1, NP)):
        fail("ranks other than 0 printed: %r" % lines[1][:3])


def summary(out, pattern):
    found = [re.match(pattern, s) for s in out]
    found = [m for m in found if m]
    if len(found) != 1:
        fail("expected one line matching %r, got %d" % (pattern, len(found)))
    return finite(found[0].group(1), pattern, low=1e-6)


def check_mnist(lines, epochs):
    for r in range(NP):
        losses = [finite(m.group(2), "rank %d train loss" % r, 0.0, 20.0)
                  for m in (re.match(r"Train Epoch: (\d+) .*Loss: %s" % NUMBER, s)
                            for s in lines[r]) if m]
        # 512 images over 2 ranks in batches of 32: batches 0 and 4 of each epoch are logged.
        if len(losses) != 2 * epochs:
            fail("rank %d printed %d Train Epoch lines, not %d" % (r, len(losses), 2 * epochs))
    tests = [m for m in (re.match(r"Test set: Average loss: %s, Accuracy: %s%%" %
                                  (NUMBER, NUMBER), s) for s in lines[0]) if m]
    if len(tests) != epochs:
        fail("rank 0 printed %d Test set lines, not %d" % (len(tests), epochs))
    for m in tests:
        finite(m.group(1), "test loss", 0.0, 20.0)
        finite(m.group(2), "test accuracy", 0.0, 100.0)
    if any("Test set" in s for s in lines[1]):
        fail("rank 1 printed the test summary, which only rank 0 prints")


def check_imagenet(lines, first_epoch, epochs):
    metrics = [[s for s in lines[r] if re.match(r"epoch \d+ (train|validation):", s)]
               for r in range(NP)]
    expected = 2 * (epochs - first_epoch)
    for r in range(NP):
        if len(metrics[r]) != expected:
            fail("rank %d printed %d metric lines, not %d" % (r, len(metrics[r]), expected))
        for s in metrics[r]:
            m = re.match(r"epoch (\d+) \w+: loss %s accuracy %s%%" % (NUMBER, NUMBER), s)
            finite(m.group(2), s, 0.0, 20.0)
            finite(m.group(3), s, 0.0, 100.0)
        if metrics[r] != metrics[0]:
            fail("rank %d's averaged metrics differ from rank 0's: %r vs %r"
                 % (r, metrics[r], metrics[0]))
        if not metrics[r][0].startswith("epoch %d train" % (first_epoch + 1)):
            fail("rank %d did not start at epoch %d: %r" % (r, first_epoch + 1, metrics[r][0]))
        resumed = "resuming from epoch %d" % first_epoch
        if first_epoch and resumed not in lines[r]:
            fail("rank %d did not print %r" % (r, resumed))


def check_imagenet_elastic(lines, epochs):
    """Each epoch trains on every sample once (the ElasticSampler's shares padded to equal
    length: ceil(50 / 2) per rank), and the averaged metrics agree over the ranks."""
    per_rank = -(-ELASTIC_TRAIN_SIZE // NP)
    metrics = [[s for s in lines[r] if s.startswith("epoch ")] for r in range(NP)]
    for r in range(NP):
        if len(metrics[r]) != epochs or metrics[r] != metrics[0]:
            fail("rank %d printed %r; expected %d epoch lines equal to rank 0's %r"
                 % (r, metrics[r], epochs, metrics[0]))
    for e, s in enumerate(metrics[0]):
        m = re.match(r"epoch (\d+) train: loss %s accuracy %s%% samples (\d+)$" % (NUMBER, NUMBER),
                     s)
        if not m or int(m.group(1)) != e + 1:
            fail("unexpected epoch line %r" % s)
        finite(m.group(2), s, 0.0, 20.0)
        finite(m.group(3), s, 0.0, 100.0)
        if int(m.group(4)) != per_rank * NP:
            fail("epoch %d trained on %s samples, not %d" % (e + 1, m.group(4), per_rank * NP))


def main():
    kolorun, examples, pythonpath, name, workdir = sys.argv[1:6]
    script = os.path.join(examples, {"synthetic": "pytorch_synthetic_benchmark.py",
                                     "synthetic_elastic": "pytorch_synthetic_benchmark_elastic.py",
                                     "mnist": "pytorch_mnist.py",
                                     "imagenet": "pytorch_imagenet_resnet50.py",
                                     "imagenet_elastic":
                                         "pytorch_imagenet_resnet50_elastic.py"}[name])
    if name.startswith("synthetic"):
        check_synthetic(run(kolorun, script, pythonpath, SYNTHETIC_ARGS), iters=3)
    elif name == "mnist":
        check_mnist(run(kolorun, script, pythonpath, MNIST_ARGS), epochs=2)
    elif name == "imagenet_elastic":
        check_imagenet_elastic(run(kolorun, script, pythonpath, ELASTIC_ARGS), epochs=2)
    else:
        os.makedirs(workdir, exist_ok=True)
        pattern = os.path.join(workdir, "checkpoint-{epoch}.pt")
        for f in os.listdir(workdir):
            os.remove(os.path.join(workdir, f))
        args = IMAGENET_ARGS + ["--checkpoint-format", pattern]
        check_imagenet(run(kolorun, script, pythonpath, args + ["--epochs", "2"]), 0, 2)
        # Rank 0 finds checkpoint-2, broadcasts the epoch and its state; all go on from there.
        check_imagenet(run(kolorun, script, pythonpath, args + ["--epochs", "3"]), 2, 3)
        for e in (1, 2, 3):
            if not os.path.exists(pattern.format(epoch=e)):
                fail("rank 0 did not write %s" % pattern.format(epoch=e))
    print("check_horovod_example: %s passed" % name)


if __name__ == "__main__":
    main()
