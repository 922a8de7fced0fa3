"""torch.distributed's semantics, op by op, checked on one process group against results
computed with plain torch from every rank's deterministic inputs.

`Group` names a process group and its members (world ranks, sorted: group rank i is
members[i]); every check runs on the members only and compares exactly (float64 values and
small integers, so sums and products are exact in any order).
"""

import math

import torch
import torch.distributed as dist

REDUCE_OPS = {
    dist.ReduceOp.SUM: lambda s: s.sum(0),
    dist.ReduceOp.PRODUCT: lambda s: s.prod(0),
    dist.ReduceOp.MIN: lambda s: s.min(0).values,
    dist.ReduceOp.MAX: lambda s: s.max(0).values,
    dist.ReduceOp.AVG: lambda s: s.sum(0) / s.shape[0],
}


class Group:
    def __init__(self, group, members):
        self.group = group
        self.members = sorted(members)
        self.me = dist.get_rank()
        self.rank = self.members.index(self.me) if self.me in self.members else -1
        self.size = len(self.members)


def value(world_rank, shape, dtype=torch.float64, salt=0):
    """The input `world_rank` contributes (every rank can compute every rank's)."""
    n = math.prod(shape)
    base = torch.arange(n, dtype=torch.float64) % 5 + world_rank + 1 + 10 * salt
    return base.reshape(shape).to(dtype)


def zeros(*shape, dtype=torch.float64):
    return torch.zeros(*shape, dtype=dtype)


def expect_equal(got, want, what):
    assert got.dtype == want.dtype and torch.equal(got, want), (
        "%s: got %s, expected %s" % (what, got.tolist(), want.tolist()))


def check_all_reduce(g):
    for op, ref in REDUCE_OPS.items():
        t = value(g.me, (3, 4))
        dist.all_reduce(t, op=op, group=g.group)
        want = ref(torch.stack([value(r, (3, 4)) for r in g.members]))
        expect_equal(t, want, "all_reduce %s" % op)
    for dtype in (torch.float32, torch.int32, torch.int64, torch.uint8):
        t = value(g.me, (5,), dtype)
        dist.all_reduce(t, group=g.group)
        expect_equal(t, sum(value(r, (5,), dtype) for r in g.members), "all_reduce %s" % dtype)
    # A non-contiguous view is reduced and written back in place.
    base = value(g.me, (4, 6))
    view = base[:, ::2]
    dist.all_reduce(view, op=dist.ReduceOp.MAX, group=g.group)
    want = torch.stack([value(r, (4, 6)) for r in g.members]).max(0).values[:, ::2]
    expect_equal(base[:, ::2], want, "all_reduce of a strided view")
    expect_equal(base[:, 1::2], value(g.me, (4, 6))[:, 1::2], "all_reduce outside the view")
    ts = [value(g.me, (2,)), value(g.me, (3, 1), salt=1)]
    dist.all_reduce_coalesced(ts, group=g.group)
    expect_equal(ts[0], sum(value(r, (2,)) for r in g.members), "all_reduce_coalesced[0]")
    expect_equal(ts[1], sum(value(r, (3, 1), salt=1) for r in g.members),
                 "all_reduce_coalesced[1]")


def check_broadcast_and_reduce(g):
    for root in range(g.size):
        src = g.members[root]
        t = value(g.me, (2, 3))
        dist.broadcast(t, src=src, group=g.group)
        expect_equal(t, value(src, (2, 3)), "broadcast from %d" % src)
        t = value(g.me, (4,))
        dist.reduce(t, dst=src, op=dist.ReduceOp.SUM, group=g.group)
        want = sum(value(r, (4,)) for r in g.members) if g.me == src else value(g.me, (4,))
        expect_equal(t, want, "reduce to %d" % src)
    t = value(g.me, (3,))
    dist.reduce(t, dst=g.members[-1], op=dist.ReduceOp.MIN, group=g.group)
    if g.me == g.members[-1]:
        expect_equal(t, torch.stack([value(r, (3,)) for r in g.members]).min(0).values,
                     "reduce MIN")


def check_gathers(g):
    outs = [zeros(2, 3) for _ in range(g.size)]
    dist.all_gather(outs, value(g.me, (2, 3)), group=g.group)
    for r, out in zip(g.members, outs):
        expect_equal(out, value(r, (2, 3)), "all_gather from %d" % r)
    out = zeros(g.size * 2, 3, dtype=torch.int32)
    dist.all_gather_into_tensor(out, value(g.me, (2, 3), torch.int32), group=g.group)
    expect_equal(out, torch.cat([value(r, (2, 3), torch.int32) for r in g.members]),
                 "all_gather_into_tensor")
    lists = [[zeros(2), zeros(1, 3)] for _ in range(g.size)]
    dist.all_gather_coalesced(lists, [value(g.me, (2,)), value(g.me, (1, 3), salt=1)],
                              group=g.group)
    for r, (a, b) in zip(g.members, lists):
        expect_equal(a, value(r, (2,)), "all_gather_coalesced[0] from %d" % r)
        expect_equal(b, value(r, (1, 3), salt=1), "all_gather_coalesced[1] from %d" % r)
    for root in (0, g.size - 1):
        dst = g.members[root]
        outs = [zeros(3) for _ in range(g.size)] if g.me == dst else None
        dist.gather(value(g.me, (3,)), outs, dst=dst, group=g.group)
        if g.me == dst:
            for r, out in zip(g.members, outs):
                expect_equal(out, value(r, (3,)), "gather to %d from %d" % (dst, r))


def check_scatters(g):
    for root in (0, g.size - 1):
        src = g.members[root]
        out = zeros(2, 2)
        pieces = [value(src, (2, 2), salt=i) for i in range(g.size)] if g.me == src else None
        dist.scatter(out, pieces, src=src, group=g.group)
        expect_equal(out, value(src, (2, 2), salt=g.rank), "scatter from %d" % src)
    for op in (dist.ReduceOp.SUM, dist.ReduceOp.MAX):
        out = zeros(3)
        dist.reduce_scatter(out, [value(g.me, (3,), salt=i) for i in range(g.size)], op=op,
                            group=g.group)
        want = REDUCE_OPS[op](torch.stack([value(r, (3,), salt=g.rank) for r in g.members]))
        expect_equal(out, want, "reduce_scatter %s" % op)
    out = zeros(2, 2)
    dist.reduce_scatter_tensor(out, value(g.me, (2 * g.size, 2)), group=g.group)
    want = sum(value(r, (2 * g.size, 2)) for r in g.members)[2 * g.rank:2 * g.rank + 2]
    expect_equal(out, want, "reduce_scatter_tensor")


def check_all_to_all(g):
    # Rank i sends i + j + 1 elements to rank j (group ranks): every pair a different size.
    def piece(i, j):
        return value(g.members[i], (i + j + 1,), salt=j)
    outs = [zeros(i + g.rank + 1, dtype=torch.float64) for i in range(g.size)]
    dist.all_to_all(outs, [piece(g.rank, j) for j in range(g.size)], group=g.group)
    for i, out in enumerate(outs):
        expect_equal(out, piece(i, g.rank), "all_to_all from group rank %d" % i)
    out = zeros(g.size * 2, 3)
    dist.all_to_all_single(out, value(g.me, (g.size * 2, 3)), group=g.group)
    want = torch.cat([value(r, (g.size * 2, 3))[2 * g.rank:2 * g.rank + 2] for r in g.members])
    expect_equal(out, want, "all_to_all_single")
    # With split sizes: rank i sends i + j + 1 rows of 2 to rank j.
    rows = [g.rank + j + 1 for j in range(g.size)]
    recv = [i + g.rank + 1 for i in range(g.size)]
    src = torch.cat([piece(g.rank, j).repeat_interleave(2).reshape(-1, 2) for j in range(g.size)])
    out = zeros(sum(recv), 2, dtype=torch.float64)
    dist.all_to_all_single(out, src, output_split_sizes=recv, input_split_sizes=rows,
                           group=g.group)
    want = torch.cat([piece(i, g.rank).repeat_interleave(2).reshape(-1, 2)
                      for i in range(g.size)])
    expect_equal(out, want, "all_to_all_single with split sizes")


def check_objects(g):
    objs = [None] * g.size
    dist.all_gather_object(objs, {"rank": g.me, "list": list(range(g.me))}, group=g.group)
    assert objs == [{"rank": r, "list": list(range(r))} for r in g.members], objs
    src = g.members[-1]
    items = ["from", src, {"x": src}] if g.me == src else [None, None, None]
    dist.broadcast_object_list(items, src=src, group=g.group)
    assert items == ["from", src, {"x": src}], items
    dst = g.members[0]
    gathered = [None] * g.size if g.me == dst else None
    dist.gather_object(("r", g.me), gathered, dst=dst, group=g.group)
    if g.me == dst:
        assert gathered == [("r", r) for r in g.members], gathered
    # torch 1.13's scatter_object_list compares `src` with the group rank, then passes it to
    # scatter() as a world rank: it only works for a source whose two ranks are equal.
    src = next((r for i, r in enumerate(g.members) if i == r), None)
    if src is None:
        return
    out = [None]
    inputs = [{"to": i, "pad": "x" * i} for i in range(g.size)] if g.me == src else None
    dist.scatter_object_list(out, inputs, src=src, group=g.group)
    assert out == [{"to": g.rank, "pad": "x" * g.rank}], out


def check_every_op(g):
    check_all_reduce(g)
    check_broadcast_and_reduce(g)
    check_gathers(g)
    check_scatters(g)
    check_all_to_all(g)
    check_objects(g)
    dist.barrier(group=g.group)
