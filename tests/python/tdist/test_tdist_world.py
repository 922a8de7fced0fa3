"""Every torch.distributed collective of the kolo backend on the world group, against plain
torch references, and the ops gloo runs against gloo on the same inputs."""

import torch
import torch.distributed as dist

from tdist_cases import Group, check_every_op, expect_equal, value, zeros


def test_backend_is_kolo_for_the_whole_job():
    import kolo.torch as hvd
    assert dist.get_backend() == "kolo"
    assert (dist.get_rank(), dist.get_world_size()) == (hvd.rank(), hvd.size())


def test_every_op_on_the_world_group():
    check_every_op(Group(None, range(dist.get_world_size())))


def test_every_op_on_a_new_group_of_every_rank():
    members = list(range(dist.get_world_size()))
    check_every_op(Group(dist.new_group(members), members))


def test_same_results_as_gloo():
    """The ops torch 1.13's gloo runs on CPU, on both backends with the same inputs."""
    gloo = dist.new_group(backend="gloo")
    me, n = dist.get_rank(), dist.get_world_size()

    def both(run):
        return [run(None), run(gloo)]

    def reductions(group):
        out = []
        for op in (dist.ReduceOp.SUM, dist.ReduceOp.PRODUCT, dist.ReduceOp.MIN,
                   dist.ReduceOp.MAX):
            t = value(me, (2, 3))
            dist.all_reduce(t, op=op, group=group)
            out.append(t)
        ts = [value(me, (2,)), value(me, (3,), salt=1)]
        dist.all_reduce_coalesced(ts, group=group)
        return out + ts

    def broadcast_and_all_gather(group):
        b = value(me, (4,))
        dist.broadcast(b, src=n - 1, group=group)
        outs = [zeros(3) for _ in range(n)]
        dist.all_gather(outs, value(me, (3,)), group=group)
        lists = [[zeros(2), zeros(1)] for _ in range(n)]
        dist.all_gather_coalesced(lists, [value(me, (2,)), value(me, (1,), salt=1)],
                                  group=group)
        return [b] + outs + [t for pair in lists for t in pair]

    def reduce_to_last(group):
        t = value(me, (5,))
        dist.reduce(t, dst=n - 1, op=dist.ReduceOp.PRODUCT, group=group)
        return [t] if me == n - 1 else []  # elsewhere torch leaves the tensor undefined

    def gather_and_scatter(group):
        outs = [zeros(4) for _ in range(n)] if me == 0 else None
        dist.gather(value(me, (4,)), outs, dst=0, group=group)
        out = zeros(3)
        dist.scatter(out, [value(0, (3,), salt=i) for i in range(n)] if me == 0 else None,
                     src=0, group=group)
        return (outs or []) + [out]

    def alltoall_single(group):
        out = zeros(sum(i + me + 1 for i in range(n)))
        dist.all_to_all_single(out, torch.cat([value(me, (me + j + 1,), salt=j)
                                               for j in range(n)]),
                               [i + me + 1 for i in range(n)], [me + j + 1 for j in range(n)],
                               group=group)
        return [out]

    def objects(group):
        objs = [None] * n
        dist.all_gather_object(objs, ("rank", me), group=group)
        out = [None]
        dist.scatter_object_list(out, list(range(100, 100 + n)) if me == 0 else None, src=0,
                                 group=group)
        return [torch.tensor([o[1] for o in objs] + out)]

    for run in (reductions, broadcast_and_all_gather, reduce_to_last, gather_and_scatter,
                alltoall_single, objects):
        kolo_result, gloo_result = both(run)
        assert len(kolo_result) == len(gloo_result)
        for k, g in zip(kolo_result, gloo_result):
            expect_equal(k, g, "%s against gloo" % run.__name__)
