"""Sparse allreduce (horovod.torch's sparse_allreduce_async) against a dense float64 reference.

Every rank builds every rank's sparse COO tensor from the same seeds, so each rank knows the
reference: the float64 sum of the ranks' dense forms (divided by the set's size for Average).
The ranks hold different numbers of entries, rank 1 none at all, and indices repeat within a
rank and across ranks. Values are small integers, so every Sum is exact in float32 too.
"""

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402

# (shape, sparse_dim): element-sparse vectors and matrices, and embedding-style hybrid
# tensors (sparse rows, dense columns).
LAYOUTS = [((9,), 1), ((6, 5), 2), ((7, 3), 1), ((4, 3, 2), 1)]


def nnz_of(rank):
    return 0 if rank == 1 else 3 + 2 * rank


def rank_tensor(rank, shape, sparse_dim, dtype):
    """Rank `rank`'s uncoalesced tensor: `nnz_of(rank)` entries over a few indices, so
    duplicates are certain."""
    g = torch.Generator().manual_seed(7 + rank)
    nnz = nnz_of(rank)
    indices = torch.stack([torch.randint(0, min(n, 3), (nnz,), generator=g)
                           for n in shape[:sparse_dim]])
    values = torch.randint(-4, 5, (nnz,) + tuple(shape[sparse_dim:]), generator=g)
    return torch.sparse_coo_tensor(indices, values.to(dtype), shape)


def dense_reference(ranks, shape, sparse_dim, op):
    total = sum(rank_tensor(r, shape, sparse_dim, torch.float64).to_dense() for r in ranks)
    return total / len(ranks) if op == hvd.Average else total


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("op", [hvd.Sum, hvd.Average])
def test_sparse_allreduce_matches_dense_reference(layout, dtype, op):
    rank, size = hvd.rank(), hvd.size()
    shape, sparse_dim = layout
    mine = rank_tensor(rank, shape, sparse_dim, dtype)
    out = hvd.synchronize(hvd.sparse_allreduce_async(mine, "sparse.ref", op))
    assert out.layout == torch.sparse_coo and out.dtype == dtype
    assert out.shape == mine.shape and out.sparse_dim() == sparse_dim
    # Horovod's result: every rank's entries in rank order, not coalesced.
    parts = [rank_tensor(r, shape, sparse_dim, dtype) for r in range(size)]
    assert out._nnz() == sum(nnz_of(r) for r in range(size))
    assert torch.equal(out._indices(), torch.cat([p._indices() for p in parts], dim=1))
    expected = dense_reference(range(size), shape, sparse_dim, op)
    got = out.coalesce().to_dense().double()
    if op == hvd.Sum:
        assert torch.equal(got, expected)
    else:
        # Each value is divided by the size before duplicates are summed: one rounding per
        # value and per addition in `dtype`.
        tol = 1e-6 if dtype == torch.float32 else 1e-14
        torch.testing.assert_close(got, expected, rtol=tol, atol=tol)


def test_integer_sum_is_exact_and_integer_average_is_refused():
    rank, size = hvd.rank(), hvd.size()
    mine = rank_tensor(rank, (8, 2), 1, torch.int64)
    out = hvd.sparse_allreduce_async(mine, "sparse.int", hvd.Sum)()  # Horovod's callable handle
    assert out.dtype == torch.int64
    expected = dense_reference(range(size), (8, 2), 1, hvd.Sum).to(torch.int64)
    assert torch.equal(out.to_dense(), expected)
    with pytest.raises(hvd.KoloInvalidArgumentError, match="floating-point"):
        hvd.sparse_allreduce_async(mine, "sparse.int.avg", hvd.Average)


def test_every_rank_empty_gives_an_empty_tensor_of_the_shape():
    empty = torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.int64), torch.zeros(0), (3, 4))
    handle = hvd.sparse_allreduce_async(empty, None, hvd.Average)
    while not hvd.poll(handle):  # both allgathers; bounded by the job's timeout
        pass
    out = hvd.synchronize(handle)
    assert out.shape == (3, 4) and out._nnz() == 0 and out.sparse_dim() == 2


def test_ops_other_than_sum_and_average_are_refused_naming_the_op():
    t = rank_tensor(hvd.rank(), (5,), 1, torch.float32)
    for op in (hvd.Min, hvd.Max, hvd.Product, hvd.Adasum):
        with pytest.raises(hvd.KoloInvalidArgumentError, match="Sum or Average"):
            hvd.sparse_allreduce_async(t, "sparse.badop", op)
    with pytest.raises(hvd.KoloInvalidArgumentError, match="sparse COO"):
        hvd.sparse_allreduce_async(t.to_dense(), "sparse.dense", hvd.Sum)
    # Nothing was left pending: the names work right after.
    out = hvd.sparse_allreduce_async(t, "sparse.badop", hvd.Sum)()
    assert out._nnz() == sum(nnz_of(r) for r in range(hvd.size()))


def test_process_set_average_divides_by_the_set_size():
    rank, size = hvd.rank(), hvd.size()
    members = list(range(1, size)) if size > 2 else [0, 1]
    ps = hvd.add_process_set(members)
    try:
        if ps.included():
            mine = rank_tensor(rank, (7, 3), 1, torch.float64)
            out = hvd.sparse_allreduce_async(mine, "sparse.set", hvd.Average, process_set=ps)()
            expected = dense_reference(members, (7, 3), 1, hvd.Average)
            torch.testing.assert_close(out.to_dense(), expected, rtol=1e-14, atol=1e-14)
    finally:
        hvd.remove_process_set(ps)
