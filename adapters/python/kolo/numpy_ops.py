"""Collectives over NumPy arrays and, through DLPack (dlpack.py), any framework's arrays.

Every op returns a new array of the caller's own type and leaves its input unchanged; the
in-place forms (allreduce_, broadcast_ and their async forms) write the result into the
caller's memory and return the same object. NumPy arrays are read directly: a non-contiguous
one is copied to a contiguous one first (one extra copy of its size). DLPack objects are read
and written where they are, never copied. Async forms return an integer handle for poll() and
synchronize(); the inputs (and the DLPack producers' buffers) stay referenced until
synchronize().
"""

import ctypes

import numpy as np

from . import _lib, _runtime, dlpack
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
_MOVERS = ("broadcast", "allgather", "alltoall", "send", "recv")


def _numpy_ref(array, kind):
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


def _tensor_ref(array, kind):
    """(TensorRef of the input, NumPy dtype of results, converter of host results to the
    caller's array type, on the caller's device)."""
    if type(array) is not np.ndarray and dlpack.is_dlpack(array):
        ref, np_dtype, convert = dlpack.describe(array, kind)
        if ref.device >= 0:
            convert = dlpack.on_device(array, kind)[1]
        return ref, np_dtype, convert
    ref, src = _numpy_ref(array, kind)
    return ref, src.dtype, dlpack.converter(src)


def _output_ref(array, ref, np_dtype, convert, kind):
    """(function giving the result once the op finished, TensorRef the op writes through) for
    an op whose result has the input's shape: a new host array handed back through `convert`,
    or for a CUDA input an `empty_like` of it on its device."""
    if ref.device >= 0:
        out = dlpack.on_device(array, kind)[0]()
        return (lambda: out), dlpack.describe(out, kind)[0]
    out = np.empty(ref.shape, dtype=np_dtype)
    return (lambda: convert(out)), _runtime.TensorRef(out.ctypes.data, ref.dtype, out.shape, out)


def _in_place_ref(array, kind):
    """The TensorRef of `array`, written in place: its own memory, never a copy."""
    if type(array) is np.ndarray:
        if not (array.flags.c_contiguous and array.flags.writeable):
            raise KoloInvalidArgumentError(
                "%s_ writes in place: it needs a C-contiguous, writeable array" % kind,
                "KOLO_INVALID_ARGUMENT")
        return _numpy_ref(array, kind)[0]
    if not dlpack.is_dlpack(array):
        raise KoloInvalidArgumentError(
            "%s_ writes in place into a NumPy array or a DLPack object, not a %s" % (
                kind, type(array).__name__), "KOLO_INVALID_ARGUMENT")
    return dlpack.describe(array, kind)[0]


def _copy_output(dtype, convert, index=0):
    """A finish step copying a Kolo-allocated output (`index`: the tensor's place in a grouped
    op) into a new array of the caller's type."""
    def finish(handle):
        ptr, nbytes, shape = _runtime.output_of(handle, index)
        out = np.empty(shape, dtype=dtype)
        if out.nbytes != nbytes:
            raise KoloInvalidArgumentError(
                "output of %d bytes does not fill shape %s of %s" % (nbytes, shape, dtype))
        if nbytes:
            ctypes.memmove(out.ctypes.data, ptr, nbytes)
        return convert(out)
    return finish


def _name(kind, name, process_set):
    return name or _runtime.auto_name(kind, set_id(process_set))


def allreduce_async(array, op=Average, name=None, process_set=global_process_set,
                    prescale_factor=1.0, postscale_factor=1.0):
    ref, np_dtype, convert = _tensor_ref(array, "allreduce")
    result, out_ref = _output_ref(array, ref, np_dtype, convert, "allreduce")
    return _runtime.submit("allreduce", _name("allreduce", name, process_set), ref, out_ref,
                           finish=lambda h: result(), op=op, prescale=prescale_factor,
                           postscale=postscale_factor, process_set=set_id(process_set))


def allreduce(array, op=Average, name=None, process_set=global_process_set,
              prescale_factor=1.0, postscale_factor=1.0):
    """Reduces `array` over the set's ranks (default: the average)."""
    return synchronize(allreduce_async(array, op, name, process_set, prescale_factor,
                                       postscale_factor))


def allreduce_async_(array, op=Average, name=None, process_set=global_process_set,
                     prescale_factor=1.0, postscale_factor=1.0):
    ref = _in_place_ref(array, "allreduce")
    return _runtime.submit("allreduce", _name("allreduce", name, process_set), ref, ref,
                           finish=lambda h: array, op=op, prescale=prescale_factor,
                           postscale=postscale_factor, process_set=set_id(process_set))


def allreduce_(array, op=Average, name=None, process_set=global_process_set,
               prescale_factor=1.0, postscale_factor=1.0):
    """allreduce() written into `array`'s own memory (a NumPy array or DLPack object, CPU or
    CUDA); returns `array`."""
    return synchronize(allreduce_async_(array, op, name, process_set, prescale_factor,
                                        postscale_factor))


def allgather_async(array, name=None, process_set=global_process_set):
    ref, np_dtype, convert = _tensor_ref(array, "allgather")
    return _runtime.submit("allgather", _name("allgather", name, process_set), ref,
                           finish=_copy_output(np_dtype, convert), process_set=set_id(process_set))


def allgather(array, name=None, process_set=global_process_set):
    """Concatenates every rank's array along the first dimension, in rank order; the first
    dimension may differ between ranks."""
    return synchronize(allgather_async(array, name, process_set))


def broadcast_async(array, root_rank, name=None, process_set=global_process_set):
    ref, np_dtype, convert = _tensor_ref(array, "broadcast")
    result, out_ref = _output_ref(array, ref, np_dtype, convert, "broadcast")
    return _runtime.submit("broadcast", _name("broadcast", name, process_set), ref, out_ref,
                           finish=lambda h: result(), root_rank=root_rank,
                           process_set=set_id(process_set))


def broadcast(array, root_rank, name=None, process_set=global_process_set):
    """The root's array, on every rank of the set."""
    return synchronize(broadcast_async(array, root_rank, name, process_set))


def broadcast_async_(array, root_rank, name=None, process_set=global_process_set):
    ref = _in_place_ref(array, "broadcast")
    return _runtime.submit("broadcast", _name("broadcast", name, process_set), ref, ref,
                           finish=lambda h: array, root_rank=root_rank,
                           process_set=set_id(process_set))


def broadcast_(array, root_rank, name=None, process_set=global_process_set):
    """broadcast() written into `array`'s own memory; returns `array`."""
    return synchronize(broadcast_async_(array, root_rank, name, process_set))


def alltoall_async(array, splits=None, name=None, process_set=global_process_set):
    ref, np_dtype, convert = _tensor_ref(array, "alltoall")
    copy = _copy_output(np_dtype, convert)

    def finish(handle):
        out = copy(handle)
        if splits is None:
            return out
        splits_in = np.asarray(_runtime.received_splits_of(handle), dtype=np.int32)
        return out, dlpack.converter(array)(splits_in)  # the splits stay in host memory
    return _runtime.submit("alltoall", _name("alltoall", name, process_set), ref,
                           finish=finish, splits=None if splits is None else list(splits),
                           process_set=set_id(process_set))


def alltoall(array, splits=None, name=None, process_set=global_process_set):
    """Sends `splits[i]` rows (default: an even share) to member i and returns the rows
    received, in member order; with `splits`, also the rows received from each member."""
    return synchronize(alltoall_async(array, splits, name, process_set))


def reducescatter_async(array, op=Average, name=None, process_set=global_process_set,
                        prescale_factor=1.0, postscale_factor=1.0):
    ref, np_dtype, convert = _tensor_ref(array, "reducescatter")
    return _runtime.submit("reducescatter", _name("reducescatter", name, process_set), ref,
                           finish=_copy_output(np_dtype, convert), op=op, prescale=prescale_factor,
                           postscale=postscale_factor, process_set=set_id(process_set))


def reducescatter(array, op=Average, name=None, process_set=global_process_set,
                  prescale_factor=1.0, postscale_factor=1.0):
    """Reduces the array and returns this rank's share of the first dimension."""
    return synchronize(reducescatter_async(array, op, name, process_set, prescale_factor,
                                           postscale_factor))


def _grouped_async(kind, arrays, name, process_set, **opts):
    """One grouped allgather or reducescatter of `arrays` (negotiated as a unit and fused by
    the runtime); its result is the list of outputs, in the arrays' order."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("grouped ops need at least one array")
    described = [_tensor_ref(a, kind) for a in arrays]
    base = _name("grouped_" + kind, name, process_set)
    copies = [_copy_output(d, c, i) for i, (_, d, c) in enumerate(described)]
    return _runtime.submit_grouped(
        kind, ["%s.%d" % (base, i) for i in range(len(arrays))], [r for r, _, _ in described],
        finish=lambda h: [copy(h) for copy in copies], process_set=set_id(process_set), **opts)


def grouped_allgather_async(arrays, name=None, process_set=global_process_set):
    return _grouped_async("allgather", arrays, name, process_set)


def grouped_allgather(arrays, name=None, process_set=global_process_set):
    """allgather() of each array, negotiated together and fused; returns a list. One dtype
    per group; host arrays only."""
    return synchronize(grouped_allgather_async(arrays, name, process_set))


def grouped_reducescatter_async(arrays, op=Average, name=None, process_set=global_process_set,
                                prescale_factor=1.0, postscale_factor=1.0):
    return _grouped_async("reducescatter", arrays, name, process_set, op=op,
                          prescale=prescale_factor, postscale=postscale_factor)


def grouped_reducescatter(arrays, op=Average, name=None, process_set=global_process_set,
                          prescale_factor=1.0, postscale_factor=1.0):
    """reducescatter() of each array, negotiated together and fused; returns a list. One
    dtype per group; host arrays only."""
    return synchronize(grouped_reducescatter_async(arrays, op, name, process_set,
                                                   prescale_factor, postscale_factor))


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
