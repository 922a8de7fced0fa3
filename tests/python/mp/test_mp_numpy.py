"""The NumPy layer across real processes (started by kolorun -np 2 and -np 3)."""

import numpy as np
import pytest

import kolo
from conftest import NUMPY_DTYPES, rank_values, reference

OPS = [kolo.Sum, kolo.Average, kolo.Min, kolo.Max, kolo.Product]


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_allreduce_matches_reference(world, dtype, op):
    rank, size = world
    if op == kolo.Product and np.dtype(dtype).itemsize == 1:
        pytest.skip("products of 1-byte values overflow; covered by the wider dtypes")
    for count in (0, 1, 7, 1000):
        got = kolo.allreduce(rank_values(rank, count, dtype), op=op,
                             name="ar.%s.%d.%d" % (np.dtype(dtype).name, op, count))
        want = reference(op, [rank_values(r, count, dtype) for r in range(size)])
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, want)


def test_allreduce_keeps_input_and_shape(world):
    rank, size = world
    a = np.arange(12, dtype=np.float32).reshape(3, 4) + rank
    before = a.copy()
    out = kolo.allreduce(a, op=kolo.Sum)
    np.testing.assert_array_equal(a, before)
    np.testing.assert_array_equal(out, sum(np.arange(12, dtype=np.float32).reshape(3, 4) + r
                                           for r in range(size)))


def test_allreduce_non_contiguous_input(world):
    rank, size = world
    a = (np.arange(20, dtype=np.float64).reshape(4, 5) * (rank + 1)).T
    out = kolo.allreduce(a, op=kolo.Sum)
    np.testing.assert_array_equal(out, np.arange(20.0).reshape(4, 5).T * (size * (size + 1) / 2))


def test_prescale_postscale_truncates_integers_per_rank(world):
    rank, size = world
    a = np.array([3, 5, 7], dtype=np.int32) + rank
    out = kolo.allreduce(a, op=kolo.Sum, prescale_factor=0.5, postscale_factor=3.0)
    summed = sum(np.trunc((np.array([3, 5, 7]) + r) * 0.5) for r in range(size))
    np.testing.assert_array_equal(out, np.trunc(summed * 3.0).astype(np.int32))
    f = kolo.allreduce(np.full(4, rank + 1.0), op=kolo.Average, prescale_factor=2.0,
                       postscale_factor=0.25)
    np.testing.assert_allclose(f, np.full(4, 2.0 * (size + 1) / 2 * 0.25))


def test_async_poll_then_synchronize(world):
    rank, size = world
    handles = [kolo.allreduce_async(np.full(1000, float(rank + i)), op=kolo.Sum,
                                    name="async.%d" % i) for i in range(5)]
    assert all(isinstance(kolo.poll(h), bool) for h in handles)
    for i, h in enumerate(handles):
        np.testing.assert_array_equal(kolo.synchronize(h),
                                      np.full(1000, float(sum(r + i for r in range(size)))))
    with pytest.raises(kolo.KoloError, match="unknown or was already synchronized"):
        kolo.synchronize(handles[0])


def test_poll_is_false_until_every_rank_submitted(world):
    rank, size = world
    if rank == 0:
        # The others submit "np.poll.pending" only after the broadcast rank 0 sends once it
        # has polled, so the op is certainly still pending at that poll.
        h = kolo.allreduce_async(np.full(3, 2.0), op=kolo.Sum, name="np.poll.pending")
        assert kolo.poll(h) is False
        kolo.broadcast(np.ones(1), 0, name="np.poll.go")
    else:
        kolo.broadcast(np.zeros(1), 0, name="np.poll.go")
        h = kolo.allreduce_async(np.full(3, 2.0), op=kolo.Sum, name="np.poll.pending")
    np.testing.assert_array_equal(kolo.synchronize(h), np.full(3, 2.0 * size))


def test_allgather_uneven_first_dimension(world):
    rank, size = world
    a = np.full((rank + 1, 3), rank, dtype=np.int64)
    out = kolo.allgather(a)
    want = np.concatenate([np.full((r + 1, 3), r, dtype=np.int64) for r in range(size)])
    np.testing.assert_array_equal(out, want)
    h = kolo.allgather_async(np.array([rank], dtype=np.float16))
    np.testing.assert_array_equal(kolo.synchronize(h), np.arange(size, dtype=np.float16))


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_broadcast_from_every_root(world, dtype):
    rank, size = world
    for root in range(size):
        a = rank_values(rank, 17, dtype)
        out = kolo.broadcast(a, root, name="bc.%s.%d" % (np.dtype(dtype).name, root))
        np.testing.assert_array_equal(out, rank_values(root, 17, dtype))
        np.testing.assert_array_equal(a, rank_values(rank, 17, dtype))


def test_alltoall_even_and_with_splits(world):
    rank, size = world
    a = np.arange(2 * size, dtype=np.int32) + 100 * rank
    out = kolo.alltoall(a)
    want = np.concatenate([np.arange(2 * rank, 2 * rank + 2, dtype=np.int32) + 100 * r
                           for r in range(size)])
    np.testing.assert_array_equal(out, want)
    # rank r sends (dest + 1) rows to each dest.
    splits = [d + 1 for d in range(size)]
    rows = np.arange(sum(splits) * 2, dtype=np.float32).reshape(-1, 2) + 1000 * rank
    out, received = kolo.alltoall(rows, splits=splits)
    offset = sum(splits[:rank])
    want = np.concatenate([rows[offset:offset + rank + 1] - 1000 * rank + 1000 * r
                           for r in range(size)])
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(received, np.full(size, rank + 1))


def test_reducescatter_gives_each_rank_its_rows(world):
    rank, size = world
    rows = 2 * size + 1  # uneven: the first rank gets the extra row
    a = np.arange(rows * 2, dtype=np.float64).reshape(rows, 2) * (rank + 1)
    out = kolo.reducescatter(a, op=kolo.Sum)
    full = np.arange(rows * 2, dtype=np.float64).reshape(rows, 2) * (size * (size + 1) / 2)
    counts = [rows // size + (1 if r < rows % size else 0) for r in range(size)]
    start = sum(counts[:rank])
    np.testing.assert_array_equal(out, full[start:start + counts[rank]])
    avg = kolo.reducescatter(np.full((size, 3), rank + 1.0))
    np.testing.assert_array_equal(avg, np.full((1, 3), (size + 1) / 2))


def test_barrier_and_join_with_uneven_steps(world):
    rank, size = world
    kolo.barrier()
    # rank r runs r + 1 steps; joined ranks contribute zeros to the others' steps.
    for step in range(rank + 1):
        got = kolo.allreduce(np.full(3, rank + 1.0), op=kolo.Sum, name="join.step.%d" % step)
        np.testing.assert_array_equal(got, np.full(3, float(sum(r + 1 for r in range(step,
                                                                                      size)))))
    assert kolo.join() == size - 1


def test_process_set_runs_only_among_members(world):
    rank, size = world
    members = list(range(size - 1)) if size > 2 else [0, 1]
    ps = kolo.add_process_set(members)
    assert ps.process_set_id is not None and ps.process_set_id > 0
    assert ps.included() == (rank in members)
    if ps.included():
        out = kolo.allreduce(np.array([rank + 1.0]), op=kolo.Sum, process_set=ps)
        assert out[0] == sum(r + 1.0 for r in members)
        assert ps.rank() == members.index(rank)
    assert kolo.remove_process_set(ps)
    assert ps.process_set_id is None


@pytest.mark.parametrize("kind", ["shape", "dtype", "op"])
def test_mismatch_raises_on_every_rank(world, kind):
    rank, size = world
    shape = (rank + 1,) if kind == "shape" else (2,)
    dtype = np.float32 if kind != "dtype" or rank == 0 else np.float64
    op = kolo.Sum if kind != "op" or rank == 0 else kolo.Max
    with pytest.raises(kolo.KoloMismatchError) as info:
        kolo.allreduce(np.ones(shape, dtype), op=op, name="mismatch." + kind)
    assert "mismatch." + kind in str(info.value)
    assert info.value.status == "KOLO_MISMATCH"
    # The job keeps working after a rejected op.
    np.testing.assert_array_equal(kolo.allreduce(np.ones(2), op=kolo.Sum), np.full(2, size))


def test_unsupported_dtype_is_rejected_at_once():
    with pytest.raises(kolo.KoloInvalidArgumentError, match="unsupported dtype complex64"):
        kolo.allreduce(np.ones(2, np.complex64))


def test_zz_shutdown_and_reinit(world):
    rank, size = world
    kolo.shutdown()
    assert not kolo.is_initialized()
    with pytest.raises(kolo.KoloError, match="not initialized"):
        kolo.allreduce(np.ones(1))
    kolo.init()
    assert (kolo.rank(), kolo.size()) == (rank, size)
    assert kolo.local_size() == size and kolo.local_rank() == rank
    assert kolo.cross_size() == 1 and kolo.cross_rank() == 0
    np.testing.assert_array_equal(kolo.allreduce(np.ones(3), op=kolo.Sum), np.full(3, size))


def test_every_async_form_polls_then_completes(world):
    rank, size = world
    a = np.full((size, 2), rank + 1.0)
    handles = {
        "allreduce": kolo.allreduce_async(a, op=kolo.Max),
        "allgather": kolo.allgather_async(a),
        "broadcast": kolo.broadcast_async(a, size - 1),
        "alltoall": kolo.alltoall_async(a),
        "reducescatter": kolo.reducescatter_async(a, op=kolo.Sum),
        "barrier": kolo.barrier_async(),
    }
    assert all(kolo.poll(h) in (True, False) for h in handles.values())
    out = {k: kolo.synchronize(h) for k, h in handles.items()}
    np.testing.assert_array_equal(out["allreduce"], np.full((size, 2), float(size)))
    np.testing.assert_array_equal(out["allgather"],
                                  np.repeat(np.arange(1.0, size + 1), size)[:, None] * [1, 1])
    np.testing.assert_array_equal(out["broadcast"], np.full((size, 2), float(size)))
    np.testing.assert_array_equal(out["alltoall"], np.arange(1.0, size + 1)[:, None] * [1, 1])
    np.testing.assert_array_equal(out["reducescatter"],
                                  np.full((1, 2), size * (size + 1) / 2))
    assert out["barrier"] is None
