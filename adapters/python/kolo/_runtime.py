"""Session state, op submission and the handle table shared by the NumPy and torch layers.

Frameworks describe their memory as a `Buffer` (address, Kolo dtype, shape, and the object
that owns the memory). An op keeps every Buffer it was given referenced until it is
synchronized, so the memory stays valid while the runtime's threads read and write it.

Thread: every function may be called from any Python thread; the handle table is guarded by
a lock, and waiting happens in the C library with the GIL released.
"""

import ctypes
import itertools
import threading

from . import _lib
from ._lib import lib
from .errors import KoloError, error_for

# How long one kolo_handle_wait slice lasts: short enough that Ctrl-C is seen within it,
# long enough that a waiting rank costs nothing measurable.
_WAIT_SLICE_SECONDS = 0.5
_MAX_NDIM = 32


class Buffer:
    """Memory an op reads or writes: address, Kolo dtype, shape and the object owning it."""

    __slots__ = ("ptr", "dtype", "shape", "owner")

    def __init__(self, ptr, dtype, shape, owner):
        self.ptr = ptr
        self.dtype = dtype
        self.shape = tuple(int(d) for d in shape)
        self.owner = owner


class _Op:
    __slots__ = ("handle", "keepalive", "finish", "done_result")

    def __init__(self, handle, keepalive, finish):
        self.handle = handle
        self.keepalive = keepalive
        self.finish = finish
        self.done_result = None


_lock = threading.Lock()
_ops = {}
_next_handle = itertools.count(1)
_name_counters = {}
_initialized = False


def raise_last(status):
    """Raises the exception for a failed status with this thread's last error message."""
    message = lib.kolo_last_error().decode("utf-8", "replace")
    name = lib.kolo_status_name(status).decode()
    raise error_for(status, message or name, name)


def check(status):
    if status != _lib.OK:
        raise_last(status)


def init(fusion_threshold_bytes=None, timeline_path=None):
    """Joins the job kolorun (or mpirun) describes; a process alone is a world of one."""
    global _initialized
    with _lock:
        if _initialized:
            return
        config = _lib.Config()
        lib.kolo_config_init(ctypes.byref(config))
        if fusion_threshold_bytes is not None:
            config.fusion_threshold_bytes = int(fusion_threshold_bytes)
        if timeline_path is not None:
            config.timeline_path = str(timeline_path).encode()
        session = ctypes.c_void_p()
        check(lib.kolo_init(ctypes.byref(config), ctypes.byref(session)))
        _initialized = True
        _name_counters.clear()


def shutdown():
    """Collective: waits for every rank; ops still pending fail with KoloError (aborted)."""
    global _initialized
    with _lock:
        if not _initialized:
            return
        _initialized = False
        status = lib.kolo_shutdown(None)
        # The runtime no longer touches any buffer: drop the table so memory can be freed.
        for op in _ops.values():
            lib.kolo_handle_free(op.handle)
        _ops.clear()
    check(status)


def is_initialized():
    return _initialized


def require_init():
    if not _initialized:
        raise KoloError("Kolo is not initialized: call init() first", "KOLO_INVALID_USAGE")


def auto_name(kind, process_set=0):
    """A name every member derives identically when it calls ops in the same order. Counted
    per process set: ranks outside a set skip its ops, and must not fall out of step."""
    key = (kind, int(process_set))
    with _lock:
        n = _name_counters.get(key, 0)
        _name_counters[key] = n + 1
    if process_set:
        return "%s.set%d.noname.%d" % (kind, process_set, n)
    return "%s.noname.%d" % (kind, n)


def describe(buf, output=None):
    desc = _lib.TensorDesc()
    lib.kolo_tensor_init(ctypes.byref(desc))
    desc.data = buf.ptr
    desc.output = output.ptr if output is not None else None
    desc.dtype = buf.dtype
    desc.ndim = len(buf.shape)
    shape = (ctypes.c_int64 * max(1, len(buf.shape)))(*buf.shape)
    desc.shape = ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64))
    desc.device = -1
    return desc, shape


def options(op=_lib.SUM, prescale=1.0, postscale=1.0, root_rank=0, process_set=0, splits=None):
    opts = _lib.OpOptions()
    lib.kolo_op_options_init(ctypes.byref(opts))
    opts.reduce_op = int(op)
    opts.prescale = float(prescale)
    opts.postscale = float(postscale)
    opts.root_rank = int(root_rank)
    opts.process_set = int(process_set)
    keep = None
    if splits is not None:
        values = [int(s) for s in splits]
        keep = (ctypes.c_int64 * max(1, len(values)))(*values)
        opts.splits = ctypes.cast(keep, ctypes.POINTER(ctypes.c_int64))
        opts.num_splits = len(values)
    return opts, keep


def _register(handle, keepalive, finish):
    op = _Op(handle, keepalive, finish)
    with _lock:
        key = next(_next_handle)
        _ops[key] = op
    return key


def submit(kind, name, buf, output=None, finish=None, **opts):
    """Starts a single-tensor op (`kind` is allreduce, allgather, broadcast, alltoall or
    reducescatter) and returns an integer handle for poll() and synchronize()."""
    require_init()
    desc, shape = describe(buf, output)
    o, splits = options(**opts)
    handle = ctypes.c_void_p()
    fn = getattr(lib, "kolo_%s_async" % kind)
    check(fn(None, name.encode(), ctypes.byref(desc), ctypes.byref(o), ctypes.byref(handle)))
    return _register(handle, (buf, output, shape, splits), finish)


def submit_grouped_allreduce(names, bufs, outputs, finish=None, **opts):
    require_init()
    count = len(bufs)
    descs = (_lib.TensorDesc * count)()
    shapes = []
    for i, (b, out) in enumerate(zip(bufs, outputs)):
        d, s = describe(b, out)
        descs[i] = d
        shapes.append(s)
    encoded = [n.encode() for n in names]
    cnames = (ctypes.c_char_p * count)(*encoded)
    o, _ = options(**opts)
    handle = ctypes.c_void_p()
    check(lib.kolo_grouped_allreduce_async(None, count, cnames, descs, ctypes.byref(o),
                                           ctypes.byref(handle)))
    return _register(handle, (bufs, outputs, shapes, descs, cnames, encoded), finish)


def submit_barrier(name, process_set=0):
    require_init()
    o, _ = options(process_set=process_set)
    handle = ctypes.c_void_p()
    check(lib.kolo_barrier_async(None, name.encode(), ctypes.byref(o), ctypes.byref(handle)))
    return _register(handle, None, None)


def submit_join(process_set=0):
    require_init()
    o, _ = options(process_set=process_set)
    handle = ctypes.c_void_p()
    check(lib.kolo_join_async(None, ctypes.byref(o), ctypes.byref(handle)))
    return _register(handle, None, lambda h: int(lib.kolo_handle_last_joined_rank(h)))


def _lookup(key):
    with _lock:
        op = _ops.get(key)
    if op is None:
        raise KoloError("handle %r is unknown or was already synchronized" % (key,),
                        "KOLO_INVALID_ARGUMENT")
    return op


def poll(key):
    """True once the op finished (successfully or not); never blocks."""
    op = _lookup(key)
    done = ctypes.c_int(0)
    check(lib.kolo_handle_poll(op.handle, ctypes.byref(done)))
    return bool(done.value)


def synchronize(key):
    """Waits for the op, frees its handle, and returns what its `finish` makes of it."""
    op = _lookup(key)
    try:
        while True:
            status = lib.kolo_handle_wait(op.handle, _WAIT_SLICE_SECONDS)
            if status != _lib.TIMEOUT:
                break
            done = ctypes.c_int(0)
            lib.kolo_handle_poll(op.handle, ctypes.byref(done))
            if done.value:
                break  # the op itself failed with a timeout
        check(status)
        return op.finish(op.handle) if op.finish else None
    finally:
        with _lock:
            _ops.pop(key, None)
        lib.kolo_handle_free(op.handle)


def output_of(handle):
    """(address, bytes, shape) of an output Kolo allocated; valid until the handle is freed."""
    data = ctypes.c_void_p()
    nbytes = ctypes.c_size_t()
    ndim = ctypes.c_int32()
    shape = (ctypes.c_int64 * _MAX_NDIM)()
    check(lib.kolo_handle_output(handle, ctypes.byref(data), ctypes.byref(nbytes),
                                 ctypes.byref(ndim), shape, _MAX_NDIM))
    return data.value, nbytes.value, tuple(shape[i] for i in range(ndim.value))


def received_splits_of(handle):
    count = ctypes.c_int32()
    check(lib.kolo_handle_received_splits(handle, None, 0, ctypes.byref(count)))
    splits = (ctypes.c_int64 * max(1, count.value))()
    check(lib.kolo_handle_received_splits(handle, splits, count.value, ctypes.byref(count)))
    return [splits[i] for i in range(count.value)]


def add_process_set(ranks):
    require_init()
    values = [int(r) for r in ranks]
    arr = (ctypes.c_int32 * max(1, len(values)))(*values)
    pid = ctypes.c_int32()
    check(lib.kolo_add_process_set(None, arr, len(values), ctypes.byref(pid)))
    return pid.value


def remove_process_set(pid):
    require_init()
    check(lib.kolo_remove_process_set(None, int(pid)))


def rank():
    return lib.kolo_rank(None)


def size():
    return lib.kolo_size(None)


def local_rank():
    return lib.kolo_local_rank(None)


def local_size():
    return lib.kolo_local_size(None)


def cross_rank():
    return lib.kolo_cross_rank(None)


def cross_size():
    return lib.kolo_cross_size(None)
