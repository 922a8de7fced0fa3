"""kolo.send / recv / isend / irecv over NumPy arrays between real processes (kolorun -np 2
and -np 3, over shared memory and TCP). Ranks a transfer does not involve go straight on to
the next test's collectives."""

import numpy as np
import pytest

import kolo
from conftest import NUMPY_DTYPES


def ring_values(rank, count, dtype):
    """Values that identify the sender and survive every dtype exactly."""
    return ((np.arange(count) * 7 + rank * 13) % 100).astype(dtype)


@pytest.mark.parametrize("dtype", NUMPY_DTYPES + [np.bool_])
def test_every_dtype_around_a_ring(world, dtype):
    rank, size = world
    dst, src = (rank + 1) % size, (rank - 1) % size
    for count in (0, 1, 1000):
        out = np.zeros(count, dtype=dtype)
        hr = kolo.irecv(out, src, tag=count)
        # NumPy integers are ranks and tags too.
        hs = kolo.isend(ring_values(rank, count, dtype), np.int64(dst), tag=np.int32(count))
        kolo.synchronize(hs)
        assert kolo.synchronize(hr) is out
        np.testing.assert_array_equal(out, ring_values(src, count, dtype))


def test_tags_match_in_order_per_tag_whatever_the_posting_order(world):
    rank, size = world
    per_tag = 4
    if rank == 0:
        handles = [kolo.isend(np.full(5, tag * 100 + i, np.int64), 1, tag=tag)
                   for tag in (1, 2) for i in range(per_tag)]
        for h in handles:
            kolo.synchronize(h)
    elif rank == 1:
        # Every receive of tag 2 is posted before any of tag 1, and the two are interleaved
        # with a blocking receive at the end.
        outs = {(tag, i): np.zeros(5, np.int64) for tag in (2, 1) for i in range(per_tag)}
        handles = {key: kolo.irecv(out, 0, tag=key[0]) for key, out in outs.items()
                   if key != (1, per_tag - 1)}
        kolo.recv(outs[(1, per_tag - 1)], 0, tag=1)
        for key, h in handles.items():
            kolo.synchronize(h)
        for (tag, i), out in outs.items():
            np.testing.assert_array_equal(out, np.full(5, tag * 100 + i, np.int64))
    kolo.barrier()


def test_64_mib_there_and_back(world):
    rank, size = world
    n = 64 * 1024 * 1024 // 4
    if rank == 0:
        data = np.arange(n, dtype=np.float32)
        kolo.send(data, 1, tag=64)
        back = np.empty(n, np.float32)
        kolo.recv(back, 1, tag=65)
        np.testing.assert_array_equal(back, data * 2)
    elif rank == 1:
        got = np.empty(n, np.float32)
        kolo.recv(got, 0, tag=64)
        np.testing.assert_array_equal(got, np.arange(n, dtype=np.float32))
        kolo.send(got * 2, 0, tag=65)
    kolo.barrier()


def test_isend_then_collectives_then_recv(world):
    rank, size = world
    payload = np.arange(300000, dtype=np.float64) + 0.5
    pending = kolo.isend(payload, 1, tag=9) if rank == 0 else None
    for i in range(3):
        got = kolo.allreduce(np.full(4, rank + 1.0), op=kolo.Sum, name="between.%d" % i)
        np.testing.assert_array_equal(got, np.full(4, size * (size + 1) / 2))
    if rank == 1:
        out = np.zeros_like(payload)
        kolo.recv(out, 0, tag=9)
        np.testing.assert_array_equal(out, payload)
    if rank == 0:
        assert kolo.synchronize(pending) is None


def test_mismatch_raises_on_both_sides_naming_both_then_the_job_goes_on(world):
    rank, size = world
    if rank == 0:
        with pytest.raises(kolo.KoloMismatchError) as e:
            kolo.send(np.ones(8, np.int32), 1, tag=3)
        assert "send to rank 1 tag 3: sent 8 int32 elements, rank 1 expected 16 float32" in str(
            e.value)
        # A dtype-only mismatch of the same size in bytes is still refused.
        with pytest.raises(kolo.KoloMismatchError) as e:
            kolo.send(np.ones(4, np.float32), 1, tag=3)
        assert "sent 4 float32 elements, rank 1 expected 4 int32" in str(e.value)
        kolo.send(np.full(4, 6, np.int32), 1, tag=3)
    elif rank == 1:
        with pytest.raises(kolo.KoloMismatchError) as e:
            kolo.recv(np.zeros(16, np.float32), 0, tag=3)
        assert "recv from rank 0 tag 3: expected 16 float32 elements, rank 0 sent 8 int32" in str(
            e.value)
        with pytest.raises(kolo.KoloMismatchError):
            kolo.recv(np.zeros(4, np.int32), 0, tag=3)
        out = kolo.recv(np.zeros(4, np.int32), 0, tag=3)
        np.testing.assert_array_equal(out, np.full(4, 6, np.int32))
    got = kolo.allreduce(np.ones(3), op=kolo.Sum, name="after.p2p.mismatch")
    np.testing.assert_array_equal(got, np.full(3, float(size)))


def test_bad_arguments_are_refused_at_once(world):
    rank, size = world
    a = np.zeros(4, np.float32)
    cases = [
        (lambda: kolo.send(a, rank), "rank %d cannot send to itself" % rank),
        (lambda: kolo.recv(a, rank), "rank %d cannot receive from itself" % rank),
        (lambda: kolo.send(a, size), "rank %d is outside process set 0 (ranks 0..%d)" % (
            size, size - 1)),
        (lambda: kolo.isend(a, (rank + 1) % size, tag=-1), "the tag must be an int in 0..2147483647"),
        (lambda: kolo.isend(a, (rank + 1) % size, tag=2**31), "the tag must be an int"),
        (lambda: kolo.isend(a, (rank + 1) % size, tag=True), "the tag must be an int"),
        (lambda: kolo.irecv(a, 1.0), "the rank must be an int"),
        (lambda: kolo.irecv(a[::2], (rank + 1) % size), "C-contiguous, writeable"),
        (lambda: kolo.send([1, 2], (rank + 1) % size), "NumPy array or a DLPack object"),
    ]
    for call, text in cases:
        with pytest.raises(kolo.KoloInvalidArgumentError) as e:
            call()
        assert text in str(e.value)


def test_process_set_ranks_are_set_ranks(world):
    rank, size = world
    if size < 3:
        pytest.skip("needs a set that leaves a rank out")
    tail = kolo.add_process_set([1, 2])
    try:
        if rank == 1:
            kolo.send(np.full(3, 11, np.int16), 1, tag=0, process_set=tail)
        elif rank == 2:
            out = kolo.recv(np.zeros(3, np.int16), 0, tag=0, process_set=tail)
            np.testing.assert_array_equal(out, np.full(3, 11, np.int16))
        else:
            with pytest.raises(kolo.KoloInvalidArgumentError, match="not a member of process set"):
                kolo.send(np.zeros(3, np.int16), 1, process_set=tail)
    finally:
        kolo.remove_process_set(tail)
