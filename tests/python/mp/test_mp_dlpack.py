"""The generic kolo API over DLPack objects across real processes (kolorun -np 2 and -np 3):
PyTorch tensors, a minimal DLPack producer over NumPy memory (its class's from_dlpack gives
results back), and legacy capsules; every dtype and collective against a float64 NumPy
reference, results of the caller's own type, in-place forms in the caller's memory, async
handles keeping the producer alive, and the errors for what DLPack cannot carry here."""

import gc
import weakref

import numpy as np
import pytest
import torch

import kolo
from conftest import NUMPY_DTYPES, rank_values, reference

OPS = [kolo.Sum, kolo.Average, kolo.Min, kolo.Max, kolo.Product]


class Producer:
    """An array type Kolo knows nothing about beyond the DLPack protocol."""

    def __init__(self, array):
        self.array = array

    def __dlpack__(self, stream=None):
        return self.array.__dlpack__()

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()

    @classmethod
    def from_dlpack(cls, obj):
        return cls(np.from_dlpack(obj))


def as_torch(a):
    return torch.from_numpy(a.copy())


def as_producer(a):
    return Producer(a.copy())


def as_capsule(a):
    return a.copy().__dlpack__()


# How each kind of object wraps a NumPy array, and what Kolo must hand back for it.
KINDS = {
    "torch": (as_torch, torch.Tensor, lambda r: r.numpy()),
    "producer": (as_producer, Producer, lambda r: r.array),
    "capsule": (as_capsule, np.ndarray, lambda r: r),
}


def unwrap(kind, result):
    wrap, cls, to_numpy = KINDS[kind]
    assert type(result) is cls, "%s in, %s out" % (kind, type(result).__name__)
    return to_numpy(result)


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_allreduce_torch_every_dtype_and_op(world, dtype, op):
    rank, size = world
    if op == kolo.Product and np.dtype(dtype).itemsize == 1:
        pytest.skip("products of 1-byte values overflow; covered by the wider dtypes")
    for count in (0, 1, 7, 1000):
        got = unwrap("torch", kolo.allreduce(as_torch(rank_values(rank, count, dtype)), op=op))
        want = reference(op, [rank_values(r, count, dtype) for r in range(size)])
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", ["producer", "capsule"])
@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_allreduce_other_producers(world, kind, dtype):
    rank, size = world
    a = rank_values(rank, 33, dtype).reshape(3, 11)
    got = unwrap(kind, kolo.allreduce(KINDS[kind][0](a), op=kolo.Sum))
    np.testing.assert_array_equal(
        got, reference(kolo.Sum, [rank_values(r, 33, dtype).reshape(3, 11) for r in range(size)]))


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_allgather_broadcast_alltoall_reducescatter(world, kind, dtype):
    rank, size = world
    wrap = KINDS[kind][0]
    rows = [r + 1 for r in range(size)]  # a different first dimension on every rank
    mine = np.full((rows[rank], 2), rank + 1).astype(dtype)
    got = unwrap(kind, kolo.allgather(wrap(mine)))
    np.testing.assert_array_equal(
        got, np.concatenate([np.full((rows[r], 2), r + 1).astype(dtype) for r in range(size)]))

    root = size - 1
    got = unwrap(kind, kolo.broadcast(wrap(rank_values(rank, 9, dtype)), root_rank=root))
    np.testing.assert_array_equal(got, rank_values(root, 9, dtype))

    # alltoall: member j gets j + 1 rows from every rank, each row holding the sender's rank.
    splits = [j + 1 for j in range(size)]
    send = np.repeat(np.arange(size) + 10 * (rank + 1), splits).astype(dtype)
    out, received = kolo.alltoall(wrap(send), splits=splits)
    np.testing.assert_array_equal(
        unwrap(kind, out), np.array([rank + 10 * (r + 1) for r in range(size)
                                     for _ in range(rank + 1)]).astype(dtype))
    np.testing.assert_array_equal(unwrap(kind, received), [rank + 1] * size)

    per_rank = [rank_values(r, 2 * size * 3, dtype).reshape(2 * size, 3) for r in range(size)]
    got = unwrap(kind, kolo.reducescatter(wrap(per_rank[rank]), op=kolo.Sum))
    np.testing.assert_array_equal(got, reference(kolo.Sum, per_rank)[2 * rank:2 * rank + 2])


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_in_place_forms_write_the_callers_memory(world, dtype):
    rank, size = world
    values = [rank_values(r, 50, dtype).reshape(5, 10) for r in range(size)]
    t = as_torch(values[rank])
    address = t.data_ptr()
    assert kolo.allreduce_(t, op=kolo.Sum) is t
    assert t.data_ptr() == address
    np.testing.assert_array_equal(t.numpy(), reference(kolo.Sum, values))

    producer = as_producer(values[rank])
    address = producer.array.ctypes.data
    assert kolo.broadcast_(producer, root_rank=0) is producer
    assert producer.array.ctypes.data == address
    np.testing.assert_array_equal(producer.array, values[0])

    a = values[rank].copy()  # a NumPy array itself, in place too
    address = a.ctypes.data
    handle = kolo.allreduce_async_(a, op=kolo.Max)
    assert kolo.synchronize(handle) is a and a.ctypes.data == address
    np.testing.assert_array_equal(a, reference(kolo.Max, values))


def test_async_handles_keep_the_producer_alive(world):
    rank, size = world
    a = np.full(100000, rank + 1, dtype=np.float64)
    producer = Producer(a)
    alive = weakref.ref(producer)
    handle = kolo.allreduce_async(producer, op=kolo.Sum)
    in_place = kolo.allreduce_async_(torch.full((1000,), float(rank + 1)), op=kolo.Sum)
    del producer, a
    gc.collect()
    assert alive() is not None, "the producer was freed while its op was in flight"
    got = kolo.synchronize(handle)
    np.testing.assert_array_equal(got.array, np.full(100000, size * (size + 1) / 2))
    np.testing.assert_array_equal(kolo.synchronize(in_place).numpy(),
                                  np.full(1000, size * (size + 1) / 2, dtype=np.float32))
    gc.collect()
    assert alive() is None, "the producer stayed referenced after synchronize()"


def test_errors_name_what_dlpack_cannot_carry(world):
    with pytest.raises(kolo.KoloInvalidArgumentError, match="bfloat16 for allreduce"):
        kolo.allreduce(torch.ones(4, dtype=torch.bfloat16))
    with pytest.raises(kolo.KoloInvalidArgumentError, match="complex64 for allgather"):
        kolo.allgather(torch.ones(4, dtype=torch.complex64))
    with pytest.raises(kolo.KoloInvalidArgumentError, match=r"strided DLPack tensor \(shape"):
        kolo.allreduce_(torch.ones(3, 4).t())
    used = torch.ones(3).__dlpack__()
    torch.utils.dlpack.from_dlpack(used)  # consumes the capsule (renamed used_dltensor)
    with pytest.raises(kolo.KoloInvalidArgumentError, match="already consumed"):
        kolo.allreduce(used)
    with pytest.raises(kolo.KoloInvalidArgumentError, match="writes in place into a NumPy"):
        kolo.allreduce_([1.0, 2.0])
    with pytest.raises(kolo.KoloInvalidArgumentError, match="C-contiguous, writeable"):
        kolo.broadcast_(np.ones((4, 4))[:, 1], root_rank=0)
