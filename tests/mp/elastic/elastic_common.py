"""What the elastic end-to-end tests share: starting a training script under kolorun, failing
with the job's output, and comparing a job's final model with a reference run's."""

import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def train(kolorun, pythonpath, np, kolorun_args, script_args, settings=(), timeout=200,
          script="elastic_train.py"):
    """kolorun -np NP KOLORUN_ARGS -x SETTINGS... -- python SCRIPT SCRIPT_ARGS"""
    cmd = [kolorun, "-np", str(np), "--timeout", str(timeout - 20)] + list(kolorun_args)
    for setting in ("PYTHONPATH=" + pythonpath, "PYTHONDONTWRITEBYTECODE=1") + tuple(settings):
        cmd += ["-x", setting]
    cmd += ["--", "/usr/bin/python3", os.path.join(HERE, script)] + script_args
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)


def fail(message, output=b""):
    print(output.decode(errors="replace"))
    print("FAILED:", message)
    sys.exit(1)


def expect_same_model(job_dir, ref_dir):
    """The final parameters of both runs agree within 1e-6."""
    got = torch.load(os.path.join(job_dir, "final.pt"))["model"]
    reference = torch.load(os.path.join(ref_dir, "final.pt"))["model"]
    for name, value in reference.items():
        if not torch.allclose(got[name], value, rtol=0, atol=1e-6):
            fail("parameter %s differs by %g" % (name, (got[name] - value).abs().max()))
