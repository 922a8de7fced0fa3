"""Work objects of the kolo backend (asynchronous ops, wait, is_completed, futures, the
group timeout) and its errors."""

import datetime
import time

import pytest
import torch
import torch.distributed as dist

from kolo.errors import KoloMismatchError, KoloTimeoutError, KoloUnsupportedError
from tdist_cases import expect_equal, value


def test_ops_return_before_completion():
    """Rank 0 submits only after the others have checked that their ops, which need rank 0's,
    returned incomplete (they tell it through a barrier in another group)."""
    me, n = dist.get_rank(), dist.get_world_size()
    side = dist.new_group(list(range(n)))
    t = value(me, (8,))
    outs = [torch.zeros(8, dtype=torch.float64) for _ in range(n)]

    def submit():
        return [dist.all_reduce(t, async_op=True),
                dist.all_gather(outs, value(me, (8,), salt=1), async_op=True)]
    if me == 0:
        dist.barrier(group=side)
        works = submit()
    else:
        works = submit()
        assert not any(w.is_completed() for w in works)
        dist.barrier(group=side)
    future = works[1].get_future()
    assert all(w.wait() for w in works)
    assert all(w.is_completed() and w.is_success() for w in works)
    expect_equal(t, sum(value(r, (8,)) for r in range(n)), "async all_reduce")
    for r, out in enumerate(future.wait()[0]):
        expect_equal(out, value(r, (8,), salt=1), "all_gather future's value")


def test_is_completed_turns_true_without_wait():
    t = value(dist.get_rank(), (4,))
    work = dist.all_reduce(t, async_op=True)
    deadline = time.monotonic() + 30
    while not work.is_completed():
        assert time.monotonic() < deadline, "is_completed() never turned true"
        time.sleep(0.001)
    work.wait()
    expect_equal(t, sum(value(r, (4,)) for r in range(dist.get_world_size())), "polled op")


def test_group_timeout_and_wait_timeout():
    """A group with a 1 s timeout: its first rank's op, waiting for a peer that comes 3 s
    late, fails with KoloTimeoutError naming the op; the late peer then completes it."""
    n = dist.get_world_size()
    members = [0, n - 1]
    group = dist.new_group(members, timeout=datetime.timedelta(seconds=1))
    me = dist.get_rank()
    if me == 0:
        work = dist.all_reduce(value(me, (2,)), group=group, async_op=True)
        with pytest.raises(KoloTimeoutError, match="wait\\(\\) timed out after 0.2 s"):
            work.wait(datetime.timedelta(seconds=0.2))
        with pytest.raises(KoloTimeoutError, match="allreduce .* group timeout of 1 s"):
            work.wait()
    elif me == n - 1:
        time.sleep(3.0)
        t = value(me, (2,))
        dist.all_reduce(t, group=group)
        expect_equal(t, value(0, (2,)) + value(me, (2,)), "late peer's all_reduce")
    dist.barrier()


def test_mismatched_shapes_raise_on_every_rank_and_the_job_goes_on():
    me, n = dist.get_rank(), dist.get_world_size()
    t = value(me, (3,) if me == 0 else (4,))
    with pytest.raises(KoloMismatchError, match="torch.distributed allreduce \\(kolo backend\\)"):
        dist.all_reduce(t)
    out = [torch.zeros(2, dtype=torch.float64) for _ in range(n)]
    with pytest.raises(KoloMismatchError, match="torch.distributed allgather"):
        dist.all_gather(out, value(me, (2,) if me else (5,)))
    work = dist.broadcast(value(me, (2, me == 0 and 3 or 2)), src=0, async_op=True)
    future = work.get_future()
    with pytest.raises(KoloMismatchError, match="torch.distributed broadcast"):
        work.wait()
    assert work.is_completed() and not work.is_success()
    assert isinstance(work.exception(), KoloMismatchError)
    with pytest.raises(RuntimeError, match="torch.distributed broadcast"):
        future.wait()
    t = value(me, (3,))
    dist.all_reduce(t)
    expect_equal(t, sum(value(r, (3,)) for r in range(n)), "all_reduce after the errors")


def test_errors_name_the_op():
    n = dist.get_world_size()
    with pytest.raises(KoloUnsupportedError, match="allreduce: reduce op BAND is not supported"):
        dist.all_reduce(torch.ones(2, dtype=torch.int32), op=dist.ReduceOp.BAND)
    with pytest.raises(KoloUnsupportedError, match="recv from any source"):
        dist.recv(torch.ones(1))
    with pytest.raises(ValueError, match="all_to_all_single .* does not split into %d" % n):
        dist.all_to_all_single(torch.zeros(n + 1), torch.zeros(n + 1))
