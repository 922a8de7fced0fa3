"""Subgroups of the kolo backend: new_group() over Kolo process sets, including groups
without rank 0, overlapping groups and two groups of the same ranks, every op in each."""


import torch
import torch.distributed as dist

from ddp_reference import train_ddp_and_reference
from tdist_cases import Group, check_every_op, expect_equal, value


def _groups():
    """Created in the same order on every rank, as torch requires."""
    n = dist.get_world_size()
    without_zero = list(range(1, n))
    ends = sorted({0, n - 1})
    return [(dist.new_group(without_zero), without_zero), (dist.new_group(ends), ends),
            (dist.new_group(without_zero), without_zero)]


def test_every_op_in_each_subgroup():
    for group, members in _groups():
        g = Group(group, members)
        if g.rank < 0:
            assert group == dist.GroupMember.NON_GROUP_MEMBER
            continue
        assert (dist.get_rank(group), dist.get_world_size(group)) == (g.rank, g.size)
        check_every_op(g)


def test_overlapping_groups_in_flight_at_once():
    """Async ops on two groups sharing a rank, issued before either is waited for."""
    (a, a_members), (b, b_members), _ = _groups()
    me = dist.get_rank()
    works, checks = [], []
    for group, members, salt in ((a, a_members, 1), (b, b_members, 2)):
        if me not in members:
            continue
        t = value(me, (64,), salt=salt)
        works.append(dist.all_reduce(t, group=group, async_op=True))
        checks.append((t, sum(value(r, (64,), salt=salt) for r in members)))
    for work, (t, want) in zip(reversed(works), reversed(checks)):
        assert work.wait() is True
        assert work.is_completed()
        expect_equal(t, want, "all_reduce in an overlapping group")


def test_world_ops_between_subgroup_ops():
    (a, a_members), _, _ = _groups()
    me, n = dist.get_rank(), dist.get_world_size()
    t = value(me, (3,))
    if me in a_members:
        dist.all_reduce(t, group=a)
        expect_equal(t, sum(value(r, (3,)) for r in a_members), "subgroup all_reduce")
    w = torch.full((2,), float(me))
    dist.all_reduce(w)
    expect_equal(w, torch.full((2,), float(n * (n - 1) / 2)), "world all_reduce")



def test_ddp_in_a_subgroup_without_rank_0():
    """DistributedDataParallel over a kolo subgroup (DDP calls it from C++) matches one
    process training on the whole batch."""
    me, n = dist.get_rank(), dist.get_world_size()
    members = list(range(1, n))
    group = dist.new_group(members)
    if me not in members:
        return
    size, rank = len(members), members.index(me)
    # Different starts per rank: DDP broadcasts group rank 0's parameters.
    model, reference = train_ddp_and_reference(
        rank, size, seed=100 + me, ddp_kwargs={"process_group": group, "bucket_cap_mb": 0.0001})
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)
