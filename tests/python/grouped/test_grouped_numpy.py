"""kolo.grouped_allgather and kolo.grouped_reducescatter (Horovod's names) across real
processes: exact results against a NumPy reference for every dtype, uneven first dimensions
(the first rows % size ranks get one row more; allgather takes any rows per rank),
prescale/postscale, Average; groups that fuse, groups with a tensor too large to fuse, and
many ungrouped ops that the runtime fuses; errors named on every rank."""

import numpy as np
import pytest

import kolo
from conftest import NUMPY_DTYPES, rank_values, reference

REDUCE_OPS = [kolo.Sum, kolo.Average]
FLOATS = [np.float16, np.float32, np.float64]


def shard_rows(rows, size):
    """Horovod's split of `rows` over `size` ranks: the first rows % size get one more."""
    counts = [rows // size + (1 if r < rows % size else 0) for r in range(size)]
    starts = [sum(counts[:r]) for r in range(size)]
    return counts, starts


def shapes_for(size):
    # Even and uneven first dimensions, a dimension smaller than the world, a 3-d tensor.
    return [(2 * size + 1, 3), (size,), (1, 4), (5, 2, 2), (3 * size, 1)]


def per_rank_inputs(shape, dtype, size, salt):
    count = int(np.prod(shape))
    return [rank_values(r + salt, count, dtype).reshape(shape) for r in range(size)]


def check_reducescatter(outs, inputs, op, rank, size, scale=1.0):
    for i, (out, ins) in enumerate(zip(outs, inputs)):
        full = reference(op, ins)
        if scale != 1.0:
            full = (full.astype(np.float64) * scale).astype(full.dtype)
        counts, starts = shard_rows(ins[0].shape[0], size)
        want = full[starts[rank]:starts[rank] + counts[rank]]
        assert out.dtype == want.dtype, "tensor %d: dtype %s, want %s" % (i, out.dtype, want.dtype)
        assert out.shape == want.shape, "tensor %d: shape %s, want %s" % (i, out.shape, want.shape)
        np.testing.assert_array_equal(out, want, err_msg="tensor %d of the group" % i)


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
@pytest.mark.parametrize("op", REDUCE_OPS)
def test_grouped_reducescatter_matches_reference(world, dtype, op):
    rank, size = world
    inputs = [per_rank_inputs(s, dtype, size, i) for i, s in enumerate(shapes_for(size))]
    outs = kolo.grouped_reducescatter([ins[rank] for ins in inputs], op=op)
    assert isinstance(outs, list) and len(outs) == len(inputs)
    check_reducescatter(outs, inputs, op, rank, size)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", REDUCE_OPS)
def test_grouped_reducescatter_prescale_postscale(world, dtype, op):
    rank, size = world
    inputs = [per_rank_inputs(s, dtype, size, i) for i, s in enumerate(shapes_for(size))]
    # Powers of two: the scaled results stay exact in every float dtype.
    outs = kolo.grouped_reducescatter([ins[rank] for ins in inputs], op=op,
                                      prescale_factor=0.5, postscale_factor=4.0)
    check_reducescatter(outs, inputs, op, rank, size, scale=2.0)


@pytest.mark.parametrize("dtype", NUMPY_DTYPES + [np.bool_])
def test_grouped_allgather_uneven_rows(world, dtype):
    rank, size = world
    # Rows per rank differ per tensor; rank 0 contributes none to the last one.
    rows = [lambda r: r + 1, lambda r: size - r, lambda r: 2, lambda r: r]
    trailing = [(3,), (), (2, 2), (1,)]
    def make(r, i):
        shape = (rows[i](r),) + trailing[i]
        count = int(np.prod(shape))
        return (rank_values(r + i, count, np.float64) % 2 if dtype == np.bool_
                else rank_values(r + i, count, np.float64)).astype(dtype).reshape(shape)
    outs = kolo.grouped_allgather([make(rank, i) for i in range(len(rows))])
    assert len(outs) == len(rows)
    for i, out in enumerate(outs):
        want = np.concatenate([make(r, i) for r in range(size)])
        assert out.dtype == want.dtype and out.shape == want.shape, (i, out.shape, want.shape)
        np.testing.assert_array_equal(out, want, err_msg="tensor %d of the group" % i)


def test_grouped_ops_with_a_tensor_too_large_to_fuse(world):
    rank, size = world
    big = np.arange(size * 300_000, dtype=np.float32).reshape(size * 300_000 // 2, 2)  # 2.4 MB
    small = [np.full((size + i, 2), rank + i, dtype=np.float32) for i in range(3)]
    outs = kolo.grouped_reducescatter([big * (rank + 1)] + small, op=kolo.Sum)
    counts, starts = shard_rows(big.shape[0], size)
    tri = size * (size + 1) // 2
    np.testing.assert_array_equal(outs[0], (big * tri)[starts[rank]:starts[rank] + counts[rank]])
    for i, (o, s) in enumerate(zip(outs[1:], small)):
        c, _ = shard_rows(s.shape[0], size)
        np.testing.assert_array_equal(o, np.full((c[rank], 2), sum(range(size)) + size * i,
                                                 dtype=np.float32))
    gathered = kolo.grouped_allgather([big[:10] + rank] + small)
    np.testing.assert_array_equal(gathered[0], np.concatenate([big[:10] + r for r in range(size)]))
    for i, g in enumerate(gathered[1:]):
        np.testing.assert_array_equal(
            g, np.concatenate([np.full((size + i, 2), r + i, np.float32) for r in range(size)]))


def test_many_ungrouped_async_ops_fuse_and_stay_exact(world):
    rank, size = world
    # Submitted together, these share cycles and are fused by the runtime (cached after the
    # first step); results must not mix tensors up.
    for step in range(3):
        arrays = [np.full((size + i % 3, 2), 100 * i + rank + step, np.float64) for i in range(40)]
        rs = [kolo.reducescatter_async(a, op=kolo.Sum, name="fuse.rs.%d" % i)
              for i, a in enumerate(arrays)]
        ag = [kolo.allgather_async(a[: 1 + (rank + i) % 2], name="fuse.ag.%d" % i)
              for i, a in enumerate(arrays)]
        for i, h in enumerate(rs):
            c, _ = shard_rows(size + i % 3, size)
            want = np.full((c[rank], 2), size * (100 * i + step) + sum(range(size)), np.float64)
            np.testing.assert_array_equal(kolo.synchronize(h), want, err_msg="rs %d" % i)
        for i, h in enumerate(ag):
            want = np.concatenate([np.full((1 + (r + i) % 2, 2), 100 * i + r + step, np.float64)
                                   for r in range(size)])
            np.testing.assert_array_equal(kolo.synchronize(h), want, err_msg="ag %d" % i)


def test_async_forms_return_lists():
    h1 = kolo.grouped_allgather_async([np.ones(2), np.zeros((1, 3))])
    h2 = kolo.grouped_reducescatter_async([np.ones((kolo.size(), 2))], op=kolo.Sum)
    a = kolo.synchronize(h1)
    r = kolo.synchronize(h2)
    assert [x.shape for x in a] == [(2 * kolo.size(),), (kolo.size(), 3)]
    np.testing.assert_array_equal(r[0], np.full((1, 2), float(kolo.size())))


def test_group_of_several_dtypes_fails_on_every_rank():
    with pytest.raises(kolo.KoloMismatchError, match="dtype"):
        kolo.grouped_reducescatter([np.ones(4, np.float32), np.ones(4, np.float64)],
                                   name="mixed.rs")
    with pytest.raises(kolo.KoloMismatchError, match="dtype"):
        kolo.grouped_allgather([np.ones(4, np.int32), np.ones(4, np.float32)], name="mixed.ag")
    # The session goes on.
    np.testing.assert_array_equal(kolo.grouped_allgather([np.ones(1)])[0], np.ones(kolo.size()))


def test_reducescatter_shapes_differing_across_ranks_fail_on_every_rank(world):
    rank, size = world
    with pytest.raises(kolo.KoloError, match="shape"):
        kolo.grouped_reducescatter([np.ones((size, 2)), np.ones((size + rank, 2))],
                                   name="shape.rs")


def test_empty_group_is_rejected():
    with pytest.raises(ValueError, match="at least one"):
        kolo.grouped_allgather([])
