"""torch.distributed point-to-point on the kolo backend: send, recv, isend, irecv and
batch_isend_irecv in a ring, every dtype, with tags, in the world group and in a subgroup
without rank 0 (group ranks), the same ring on gloo with the same inputs, and the errors."""

import pytest
import torch
import torch.distributed as dist

from kolo import KoloMismatchError, KoloUnsupportedError
from tdist_cases import expect_equal, value

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8, torch.uint8,
          torch.int16, torch.int32, torch.int64, torch.bool]


def ring(members, group=None, dtype=torch.float64, tag=0, batch=False):
    """Every member sends its value to the next member and receives the previous one's; returns
    what arrived (None off the group). Ranks in send/recv are world ranks, as in torch."""
    me = dist.get_rank()
    if me not in members:
        return None
    i, n = members.index(me), len(members)
    nxt, prev = members[(i + 1) % n], members[(i - 1) % n]
    out = torch.zeros(5, dtype=dtype)
    mine = value(me, (5,)).to(dtype)
    if batch:
        ops = [dist.P2POp(dist.isend, mine, nxt, group, tag),
               dist.P2POp(dist.irecv, out, prev, group, tag)]
        for work in dist.batch_isend_irecv(ops):
            work.wait()
    elif i == 0:  # blocking forms: the first member sends first, the others pass it on
        dist.send(mine, nxt, group=group, tag=tag)
        dist.recv(out, prev, group=group, tag=tag)
    else:
        dist.recv(out, prev, group=group, tag=tag)
        dist.send(mine, nxt, group=group, tag=tag)
    expect_equal(out, value(prev, (5,)).to(dtype), "ring %s from %d" % (dtype, prev))
    return out


def test_send_recv_every_dtype_in_the_world():
    members = list(range(dist.get_world_size()))
    for dtype in DTYPES:
        ring(members, dtype=dtype, tag=7)


def test_isend_irecv_with_tags_out_of_order():
    me, n = dist.get_rank(), dist.get_world_size()
    nxt, prev = (me + 1) % n, (me - 1) % n
    a, b = torch.zeros(3), torch.zeros(3)
    recv_b = dist.irecv(b, prev, tag=2)  # posted before the tag-1 receive
    recv_a = dist.irecv(a, prev, tag=1)
    sends = [dist.isend(torch.full((3,), 10.0 * me + 1), nxt, tag=1),
             dist.isend(torch.full((3,), 10.0 * me + 2), nxt, tag=2)]
    for work in [recv_a, recv_b] + sends:
        work.wait()
    assert recv_a.is_completed()
    expect_equal(a, torch.full((3,), 10.0 * prev + 1), "tag 1")
    expect_equal(b, torch.full((3,), 10.0 * prev + 2), "tag 2")


def test_batch_isend_irecv_in_a_subgroup_without_rank_0():
    n = dist.get_world_size()
    members = list(range(1, n)) if n > 2 else [0, 1]
    group = dist.new_group(members)
    ring(members, group=group, batch=True)


def test_same_results_as_gloo():
    gloo = dist.new_group(backend="gloo")
    members = list(range(dist.get_world_size()))
    got = ring(members, batch=True, dtype=torch.float32)
    want = ring(members, group=gloo, batch=True, dtype=torch.float32)
    expect_equal(got, want, "kolo against gloo")


def test_errors_then_the_job_goes_on():
    me, n = dist.get_rank(), dist.get_world_size()
    nxt, prev = (me + 1) % n, (me - 1) % n
    send = dist.isend(torch.ones(4), nxt, tag=5)
    with pytest.raises(KoloMismatchError, match="4 float32"):
        dist.recv(torch.zeros(2, dtype=torch.int32), prev, tag=5)
    with pytest.raises(Exception, match="send"):
        send.wait()
    with pytest.raises(KoloUnsupportedError, match="any source"):
        dist.recv(torch.zeros(1))
    t = torch.ones(2)
    dist.all_reduce(t)
    expect_equal(t, torch.full((2,), float(n)), "all_reduce after the errors")
