"""Shared fixtures: one Kolo session per pytest process.

Multi-process runs start this same pytest under kolorun, so every rank collects the same
tests in the same order and their collectives pair up by name. A failing rank stops at its
first failure (-x); kolorun then stops the others, so a failure never turns into a hang.
"""

import sys

import numpy as np
import pytest

import kolo


@pytest.fixture(scope="session", autouse=True)
def kolo_session(request):
    kolo.init()
    yield
    if not kolo.is_initialized():
        return
    try:
        kolo.shutdown()
    except kolo.KoloError as e:
        # After a failed test the other ranks are still in it, so shutdown times out; raising
        # here would hide that test's report (pytest prints no summary then). Say why and let
        # the failed test fail the run.
        if request.session.testsfailed == 0:
            raise
        print("kolo.shutdown after a failed test: %s" % e, file=sys.stderr)


@pytest.fixture
def world():
    return kolo.rank(), kolo.size()


NUMPY_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.uint8, np.int16, np.int32,
                np.int64]


def rank_values(rank, count, dtype):
    """Small per-rank values whose sums and products stay exact in every dtype."""
    base = (np.arange(count) % 3 + rank + 1).astype(np.float64)
    if np.dtype(dtype) == np.uint8 or np.dtype(dtype) == np.int8:
        base = base % 4 + 1
    return base.astype(dtype)


def reference(op, arrays):
    """The reduction kolo should produce, computed in float64 then cast back."""
    stack = np.stack([a.astype(np.float64) for a in arrays])
    if op == kolo.Sum:
        out = stack.sum(0)
    elif op == kolo.Average:
        out = stack.sum(0) / len(arrays)
    elif op == kolo.Min:
        out = stack.min(0)
    elif op == kolo.Max:
        out = stack.max(0)
    else:
        out = stack.prod(0)
    if np.issubdtype(arrays[0].dtype, np.integer):
        out = np.trunc(out)
    return out.astype(arrays[0].dtype)
