"""Collectives over NumPy arrays.

Every op returns a new array and leaves its input unchanged. A non-contiguous input is
copied to a contiguous one first (one extra copy of its size). Async forms return an integer
handle for poll() and synchronize(); the arrays stay referenced until synchronize().
"""

import ctypes

import numpy as np

from . import _lib, _runtime
from .errors import KoloInvalidArgumentError
from .process_sets import global_process_set, set_id

from .ops import Adasum, Average, Max, Min, Product, Sum  # noqa: F401

_DTYPES = {
    np.dtype(np.float16): _lib.FLOAT16,
    np.dtype(np.float32): _lib.FLOAT32,
    np.dtype(np.float64): _lib.FLOAT64,
    np.dtype(np.int8): _lib.INT8,
    np.dtype(np.uint8): _lib.UINT8,
    np.dtype(np.int16): _lib.INT16,
    np.dtype(np.int32): _lib.INT32,
    np.dtype(np.int64): _lib.INT64,
}
# Ops that only move data also take bool arrays (carried as their uint8 bytes).
_MOVERS = ("broadcast", "allgather", "alltoall")


def _tensor_ref(array, kind):
    array = np.ascontiguousarray(array)
    kdtype = _DTYPES.get(array.dtype)
    if kdtype is None and array.dtype == np.bool_ and kind in _MOVERS:
        kdtype = _lib.UINT8
    if kdtype is None:
        raise KoloInvalidArgumentError(
            "unsupported dtype %s for %s; Kolo takes float16, float32, float64, int8, uint8, "
            "int16, int32 and int64%s" % (array.dtype, kind,
                                          " (and bool)" if kind in _MOVERS else ""),
            "KOLO_INVALID_ARGUMENT")
    return _runtime.TensorRef(array.ctypes.data, kdtype, array.shape, array), array


def _copy_output(dtype):
    """A finish step copying a Kolo-allocated output into a new array."""
    def finish(handle):
        ptr, nbytes, shape = _runtime.output_of(handle)
        out = np.empty(shape, dtype=dtype)
        if out.nbytes != nbytes:
            raise KoloInvalidArgumentError(
                "output of %d bytes does not fill shape %s of %s" % (nbytes, shape, dtype))
        if nbytes:
            ctypes.memmove(out.ctypes.data, ptr, nbytes)
        return out
    return finish


def _name(kind, name, process_set):
    return name or _runtime.auto_name(kind, set_id(process_set))


def allreduce_async(array, op=Average, name=None, process_set=global_process_set,
                    prescale_factor=1.0, postscale_factor=1.0):
    ref, src = _tensor_ref(array, "allreduce")
    out = np.empty_like(src)
    out_ref = _runtime.TensorRef(out.ctypes.data, ref.dtype, out.shape, out)
    return _runtime.submit("allreduce", _name("allreduce", name, process_set), ref, out_ref,
                           finish=lambda h: out, op=op, prescale=prescale_factor,
                           postscale=postscale_factor, process_set=set_id(process_set))


def allreduce(array, op=Average, name=None, process_set=global_process_set,
              prescale_factor=1.0, postscale_factor=1.0):
    """Reduces `array` over the set's ranks (default: the average)."""
    return synchronize(allreduce_async(array, op, name, process_set, prescale_factor,
                                       postscale_factor))


def allgather_async(array, name=None, process_set=global_process_set):
    ref, src = _tensor_ref(array, "allgather")
    return _runtime.submit("allgather", _name("allgather", name, process_set), ref,
                           finish=_copy_output(src.dtype), process_set=set_id(process_set))


def allgather(array, name=None, process_set=global_process_set):
    """Concatenates every rank's array along the first dimension, in rank order; the first
    dimension may differ between ranks."""
    return synchronize(allgather_async(array, name, process_set))


def broadcast_async(array, root_rank, name=None, process_set=global_process_set):
    ref, src = _tensor_ref(array, "broadcast")
    out = np.empty_like(src)
    out_ref = _runtime.TensorRef(out.ctypes.data, ref.dtype, out.shape, out)
    return _runtime.submit("broadcast", _name("broadcast", name, process_set), ref, out_ref,
                           finish=lambda h: out, root_rank=root_rank,
                           process_set=set_id(process_set))


def broadcast(array, root_rank, name=None, process_set=global_process_set):
    """The root's array, on every rank of the set."""
    return synchronize(broadcast_async(array, root_rank, name, process_set))


def alltoall_async(array, splits=None, name=None, process_set=global_process_set):
    ref, src = _tensor_ref(array, "alltoall")
    copy = _copy_output(src.dtype)

    def finish(handle):
        out = copy(handle)
        if splits is None:
            return out
        return out, np.asarray(_runtime.received_splits_of(handle), dtype=np.int32)
    return _runtime.submit("alltoall", _name("alltoall", name, process_set), ref,
                           finish=finish, splits=None if splits is None else list(splits),
                           process_set=set_id(process_set))


def alltoall(array, splits=None, name=None, process_set=global_process_set):
    """Sends `splits[i]` rows (default: an even share) to member i and returns the rows
    received, in member order; with `splits`, also the rows received from each member."""
    return synchronize(alltoall_async(array, splits, name, process_set))


def reducescatter_async(array, op=Average, name=None, process_set=global_process_set,
                        prescale_factor=1.0, postscale_factor=1.0):
    ref, src = _tensor_ref(array, "reducescatter")
    return _runtime.submit("reducescatter", _name("reducescatter", name, process_set), ref,
                           finish=_copy_output(src.dtype), op=op, prescale=prescale_factor,
                           postscale=postscale_factor, process_set=set_id(process_set))


def reducescatter(array, op=Average, name=None, process_set=global_process_set,
                  prescale_factor=1.0, postscale_factor=1.0):
    """Reduces the array and returns this rank's share of the first dimension."""
    return synchronize(reducescatter_async(array, op, name, process_set, prescale_factor,
                                           postscale_factor))


def barrier_async(process_set=global_process_set, name=None):
    return _runtime.submit_barrier(_name("barrier", name, process_set), set_id(process_set))


def barrier(process_set=global_process_set):
    """Returns once every rank of the set reached it."""
    synchronize(barrier_async(process_set))


def join_async(process_set=global_process_set):
    return _runtime.submit_join(set_id(process_set))


def join(process_set=global_process_set):
    """Marks this rank as out of data; returns the rank that joined last."""
    return synchronize(join_async(process_set))


def poll(handle):
    """True once the op behind `handle` finished; never blocks."""
    return _runtime.poll(handle)


def synchronize(handle):
    """Waits for the op and returns its result; raises KoloError if it failed."""
    return _runtime.synchronize(handle)
