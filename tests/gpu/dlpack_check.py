"""The generic kolo API over a DLPack producer that is not a framework (dlpack_array.RawArray),
on every rank of a kolorun job: in-place allreduce_/broadcast_ and their async forms write the
producer's own memory (the address is unchanged) with exact results, for every dtype the
producer exports; CUDA memory is exported on the legacy default stream. Out-of-place forms
(allreduce, broadcast, allgather, reducescatter, alltoall) return NumPy arrays for host memory
and, for CUDA memory, arrays of the producer's own type on the device, made through its
`__array_namespace__`; a CUDA array without one is refused, naming the in-place form.

    kolorun -np 2 /usr/bin/python3 tests/gpu/dlpack_check.py --device cuda   (GPU checks)
    kolorun -np 2 /usr/bin/python3 tests/gpu/dlpack_check.py --device cpu    (ctest, here)

Prints "dlpack check (DEVICE): OK" on every rank that passed; exits 1 on the first failure."""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kolo  # noqa: E402
from dlpack_array import RawArray  # noqa: E402

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.uint8, np.int16, np.int32, np.int64]
LEGACY_DEFAULT_STREAM = 1


def values(rank, count, dtype):
    return ((np.arange(count) * 7 + rank * 3) % 11).astype(dtype)


def check_equal(what, got, want):
    if got.dtype != want.dtype or not np.array_equal(got, want):
        raise AssertionError("%s: got %s (%s), want %s (%s)" % (what, got[:8], got.dtype,
                                                                 want[:8], want.dtype))


def check_in_place(device, rank, size):
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        count = 4099  # not a multiple of any chunk or vector width
        want = sum(values(r, count, np.float64) for r in range(size)).astype(dtype)
        a = RawArray(values(rank, count, dtype), device)
        address = a.address
        if kolo.allreduce_(a, op=kolo.Sum) is not a or a.address != address:
            raise AssertionError("allreduce_ %s did not write in place" % name)
        check_equal("allreduce_ %s" % name, a.numpy(), want)
        b = RawArray(values(rank, count, dtype), device)
        handle = kolo.broadcast_async_(b, root_rank=size - 1)
        if kolo.synchronize(handle) is not b:
            raise AssertionError("broadcast_async_ %s returned another object" % name)
        check_equal("broadcast_async_ %s" % name, b.numpy(), values(size - 1, count, dtype))
        if device == "cuda" and set(a.streams + b.streams) != {LEGACY_DEFAULT_STREAM}:
            raise AssertionError("CUDA memory exported on streams %s, not the legacy default "
                                 "stream" % sorted(set(a.streams + b.streams)))


class Bare(RawArray):
    """A device array whose framework Kolo cannot ask for device memory."""
    __array_namespace__ = None


def check_out_of_place(device, rank, size):
    """New results: NumPy arrays for host memory (this producer has no from_dlpack), RawArrays
    on the input's device for CUDA memory; exact for every op."""
    want_type = np.ndarray if device == "cpu" else RawArray

    def host(result, what):
        if type(result) is not want_type or getattr(result, "device", device) != device:
            raise AssertionError("%s returned a %s, not a %s on %s" % (
                what, type(result).__name__, want_type.__name__, device))
        return result if device == "cpu" else result.numpy()

    mine = [values(r, 6 * size, np.float32).reshape(2 * size, 3) for r in range(size)]
    total = sum(m.astype(np.float64) for m in mine).astype(np.float32)
    a = RawArray(mine[rank], device)
    check_equal("allreduce", host(kolo.allreduce(a, op=kolo.Sum), "allreduce"), total)
    check_equal("broadcast", host(kolo.broadcast(a, root_rank=0), "broadcast"), mine[0])
    check_equal("allgather", host(kolo.allgather(a), "allgather"), np.concatenate(mine))
    check_equal("reducescatter", host(kolo.reducescatter(a, op=kolo.Sum), "reducescatter"),
                total[2 * rank:2 * rank + 2])
    out = kolo.alltoall(RawArray(np.full(size, rank, dtype=np.int32), device))
    check_equal("alltoall", host(out, "alltoall"), np.arange(size, dtype=np.int32))
    if device == "cpu":
        return
    try:
        kolo.allreduce(Bare(mine[rank], device), op=kolo.Sum)
    except kolo.KoloUnsupportedError as e:
        if "allreduce_ writes in place instead" not in str(e):
            raise AssertionError("the refusal does not name the in-place form: %s" % e)
    else:
        raise AssertionError("out-of-place allreduce of a Bare CUDA array was not refused")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", choices=["cpu", "cuda"], required=True)
    device = parser.parse_args().device
    kolo.init()
    rank, size = kolo.rank(), kolo.size()
    try:
        check_in_place(device, rank, size)
        check_out_of_place(device, rank, size)
        kolo.barrier()
    except Exception as e:  # one line naming the rank, then a non-zero exit
        print("dlpack check (%s) FAILED on rank %d: %s: %s" % (device, rank,
                                                              type(e).__name__, e), flush=True)
        return 1
    finally:
        kolo.shutdown()
    print("dlpack check (%s): OK" % device, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
