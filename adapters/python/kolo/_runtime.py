"""Session state, op submission and the handle table shared by the NumPy and torch layers.

Frameworks describe their memory as a `TensorRef`: the fields of the C ABI's kolo_tensor_t
(data, dtype, shape, device, stream; `_lib.TensorDesc` is its ctypes mirror) and the object that
owns the memory. An op keeps every TensorRef it was given referenced until it is synchronized,
so the memory stays valid while the runtime's threads read and write it.

Thread: every function may be called from any Python thread; the handle table is guarded by
a lock, and waiting happens in the C library with the GIL released.
"""

import ctypes
import itertools
import math
import operator
import os
import threading
import time

from . import _lib, _stacks
from ._lib import lib
from .errors import KoloError, KoloUnsupportedError, error_for

# How long one kolo_handle_wait slice lasts: short enough that Ctrl-C is seen within it,
# long enough that a waiting rank costs nothing measurable.
_WAIT_SLICE_SECONDS = 0.5
_MAX_NDIM = 32


class TensorRef:
    """A tensor an op reads or writes, named as kolo_tensor_t names it: data (address), Kolo
    dtype, shape, device (-1: host memory) and, for CUDA memory, the cudaStream_t (an int)
    that produced it; plus `owner`, the Python object that keeps the memory alive."""

    __slots__ = ("data", "dtype", "shape", "device", "stream", "owner")

    def __init__(self, data, dtype, shape, owner, device=-1, stream=None):
        self.data = data
        self.dtype = dtype
        # torch.Size and NumPy shapes are tuples of ints already: no per-dimension conversion
        # on the per-op path.
        self.shape = shape if isinstance(shape, tuple) else tuple(int(d) for d in shape)
        self.owner = owner
        self.device = device
        self.stream = stream


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
_homogeneous = True


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
    _stacks.register()
    _learn_homogeneity()


def _learn_homogeneity():
    """Horovod's is_homogeneous() (every host runs as many ranks) needs every host's rank
    count; one allgather of local sizes at init answers it without a collective later."""
    global _homogeneous
    if size() == 1:
        _homogeneous = True
        return
    mine = (ctypes.c_int32 * 1)(local_size())

    def finish(handle):
        ptr, nbytes, _ = output_of(handle)
        sizes = ctypes.cast(ptr, ctypes.POINTER(ctypes.c_int32))[:nbytes // 4]
        return len(set(sizes)) == 1
    _homogeneous = synchronize(submit("allgather", "kolo.init.local_sizes",
                                      TensorRef(ctypes.addressof(mine), _lib.INT32, (1,), mine),
                                      finish=finish))


def is_homogeneous():
    require_init()
    return _homogeneous


def shutdown():
    """Collective: waits for every rank; ops still pending fail with KoloError (aborted)."""
    global _initialized
    with _lock:
        if not _initialized:
            return
        _initialized = False
        status = lib.kolo_shutdown(None)
        # The runtime no longer touches any buffer: drop the table so memory can be freed.
        for op in list(_ops.values()):
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


# Per-op costs matter: a training step submits one op per gradient (161 for ResNet-50), and
# each microsecond here is one the step pays. The C library copies descriptors, shapes and
# options during the submitting call, so the ctypes objects below are built once and shared:
# never written after they are cached.
def _defaults(struct, init):
    value = struct()
    init(ctypes.byref(value))
    return bytes(value)


_TENSOR_DEFAULTS = _defaults(_lib.TensorDesc, lib.kolo_tensor_init)
_MAX_CACHED = 4096
_shape_arrays = {}  # shape tuple -> int64 array
_cached_options = {}  # (op, prescale, postscale, root, process set) -> OpOptions


def _shape_array(shape):
    array = _shape_arrays.get(shape)
    if array is None:
        array = (ctypes.c_int64 * max(1, len(shape)))(*shape)
        if len(_shape_arrays) < _MAX_CACHED:
            _shape_arrays[shape] = array
    return array


_cached_descs = {}  # (data, output, dtype, shape, device, stream) -> (byref(desc), shape)


def _describe_ref(ref, output):
    """byref() of a descriptor for the submitting call, and what keeps it alive. Training
    submits the same gradient buffers every step, so descriptors are cached by their content
    (addresses and shape, not the tensors: the C library copies them during the call)."""
    key = (ref.data, ref.dtype, ref.shape, ref.device, ref.stream) + (
        (output.data, output.dtype, output.shape) if output is not None else ())
    cached = _cached_descs.get(key)
    if cached is None:
        desc, shape = describe(ref, output)
        cached = (ctypes.byref(desc), shape)
        if len(_cached_descs) >= _MAX_CACHED:
            _cached_descs.clear()
        _cached_descs[key] = cached
    return cached


def describe(ref, output=None):
    """The TensorDesc (kolo_tensor_t) of a TensorRef, writing to `output`'s data, and the
    shape array it points to."""
    desc = _lib.TensorDesc.from_buffer_copy(_TENSOR_DEFAULTS)
    desc.data = ref.data
    if output is not None:
        desc.output = output.data
        desc.output_bytes = math.prod(output.shape) * _lib.DTYPE_BYTES[output.dtype]
    desc.dtype = ref.dtype
    desc.ndim = len(ref.shape)
    shape = _shape_array(ref.shape)
    desc.shape = shape
    if ref.device >= 0:  # the defaults say host memory and no stream
        desc.device = ref.device
        desc.stream = ref.stream
    return desc, shape


def options(op=_lib.SUM, prescale=1.0, postscale=1.0, root_rank=0, process_set=0, splits=None):
    """The op's options and what must stay referenced with them; without splits, a shared
    cached struct (read only)."""
    if splits is None:
        # Keyed by the arguments as given, so a hit converts nothing; only plain numbers are
        # cached (a tensor as a scale factor could change in place).
        key = (op, prescale, postscale, root_rank, process_set)
        cached = _cached_options.get(key)
        if cached is None:
            cached, _ = _new_options(*key)
            if len(_cached_options) < _MAX_CACHED and all(type(v) in (int, float) for v in key):
                _cached_options[key] = cached
        return cached, None
    return _new_options(op, prescale, postscale, root_rank, process_set, splits)


def _new_options(op, prescale, postscale, root_rank, process_set, splits=None):
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
        opts.splits = keep
        opts.num_splits = len(values)
    return opts, keep


def _register(handle, keepalive, finish):
    # next() on itertools.count and one dict store are atomic under the GIL: no lock needed.
    key = next(_next_handle)
    _ops[key] = _Op(handle, keepalive, finish)
    return key


_SUBMIT_FNS = {kind: getattr(lib, "kolo_%s_async" % kind) for kind in
               ("allreduce", "allgather", "broadcast", "alltoall", "reducescatter")}


def submit(kind, name, ref, output=None, finish=None, op=_lib.SUM, prescale=1.0, postscale=1.0,
           root_rank=0, process_set=0, splits=None):
    """Starts a single-tensor op (`kind` is allreduce, allgather, broadcast, alltoall or
    reducescatter) and returns an integer handle for poll() and synchronize()."""
    if not _initialized:
        require_init()
    desc_ref, shape = _describe_ref(ref, output)
    o, splits = options(op, prescale, postscale, root_rank, process_set, splits)
    handle = ctypes.c_void_p()
    fn = _SUBMIT_FNS.get(kind) or getattr(lib, "kolo_%s_async" % kind)
    status = fn(None, name.encode(), desc_ref, ctypes.byref(o), ctypes.byref(handle))
    if status:
        raise_last(status)
    return _register(handle, (ref, output, shape, splits), finish)


def submit_grouped_allreduce(names, refs, outputs, finish=None, **opts):
    return submit_grouped("allreduce", names, refs, outputs, finish, **opts)


def submit_grouped(kind, names, refs, outputs=None, finish=None, **opts):
    """Starts a grouped allreduce, allgather or reducescatter of `refs` (one negotiated unit,
    fused by the runtime). Allgather and reducescatter take no outputs: `finish` reads output i
    with output_of(handle, i)."""
    require_init()
    outputs = outputs if outputs is not None else [None] * len(refs)
    count = len(refs)
    descs = (_lib.TensorDesc * count)()
    shapes = []
    for i, (r, out) in enumerate(zip(refs, outputs)):
        d, s = describe(r, out)
        descs[i] = d
        shapes.append(s)
    encoded = [n.encode() for n in names]
    cnames = (ctypes.c_char_p * count)(*encoded)
    o, _ = options(**opts)
    handle = ctypes.c_void_p()
    fn = getattr(lib, "kolo_grouped_%s_async" % kind)
    check(fn(None, count, cnames, descs, ctypes.byref(o), ctypes.byref(handle)))
    return _register(handle, (refs, outputs, shapes, descs, cnames, encoded), finish)


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


_MAX_TAG = 2**31 - 1


def submit_peer(is_send, ref, peer, tag=0, process_set=0, finish=None):
    """Starts a send of `ref` to `peer` (or a receive into `ref` from it): ranks of
    `process_set`, tag 0 .. 2**31-1. Returns an integer handle for poll() and synchronize()."""
    require_init()
    what = "send to" if is_send else "recv from"
    checked = []
    for label, value, low in (("rank", peer, -2**31), ("tag", tag, 0)):
        try:  # Python and NumPy integers, not bools, floats or strings
            number = None if isinstance(value, bool) else operator.index(value)
        except TypeError:
            number = None
        if number is None or not low <= number <= _MAX_TAG:
            raise error_for(1, "%s rank %r tag %r: the %s must be an int in %d..%d" % (
                what, peer, tag, label, max(low, 0), _MAX_TAG), "KOLO_INVALID_ARGUMENT")
        checked.append(number)
    peer, tag = checked
    desc_ref, shape = _describe_ref(ref, None)
    o, _ = options(process_set=process_set)
    handle = ctypes.c_void_p()
    fn = lib.kolo_send_async if is_send else lib.kolo_recv_async
    status = fn(None, desc_ref, peer, tag, ctypes.byref(o), ctypes.byref(handle))
    if status == _lib.UNAVAILABLE:
        # Refused at submission: the transport (KOLO_CPU_OPERATIONS=mpi) has no point-to-point.
        raise KoloUnsupportedError(lib.kolo_last_error().decode("utf-8", "replace"),
                                   "KOLO_UNAVAILABLE")
    if status:
        raise_last(status)
    return _register(handle, (ref, shape), finish)


def _lookup(key):
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


def _finished(op):
    done = ctypes.c_int(0)
    lib.kolo_handle_poll(op.handle, ctypes.byref(done))
    return bool(done.value)


def wait(key, timeout_seconds=None):
    """Blocks until the op finished (successfully or not) or `timeout_seconds` passed (None:
    no limit); True when it finished. Unlike synchronize() the handle stays valid."""
    op = _lookup(key)
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    while True:
        left = _WAIT_SLICE_SECONDS if deadline is None else deadline - time.monotonic()
        status = lib.kolo_handle_wait(op.handle, max(0.0, min(_WAIT_SLICE_SECONDS, left)))
        if status != _lib.TIMEOUT or _finished(op):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


def synchronize(key):
    """Waits for the op, frees its handle, and returns what its `finish` makes of it."""
    op = _lookup(key)
    try:
        while True:
            status = lib.kolo_handle_wait(op.handle, _WAIT_SLICE_SECONDS)
            if status != _lib.TIMEOUT:
                break
            if _finished(op):
                # It finished after the slice ran out (or itself timed out): its own outcome,
                # and its own error message, not the slice's timeout.
                status = lib.kolo_handle_wait(op.handle, 0.0)
                break
        check(status)
        return op.finish(op.handle) if op.finish else None
    finally:
        _ops.pop(key, None)
        lib.kolo_handle_free(op.handle)


def output_of(handle, index=0):
    """(address, bytes, shape) of an output Kolo allocated (`index`: the tensor's place in a
    grouped op); valid until the handle is freed."""
    data = ctypes.c_void_p()
    nbytes = ctypes.c_size_t()
    ndim = ctypes.c_int32()
    shape = (ctypes.c_int64 * _MAX_NDIM)()
    check(lib.kolo_handle_output_at(handle, index, ctypes.byref(data), ctypes.byref(nbytes),
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


_build_info = None


def build_info():
    """What this libkolo.so was built with (mpi, cuda, nccl, nccl_version); cached."""
    global _build_info
    if _build_info is None:
        info = _lib.BuildInfo()
        info.struct_size = ctypes.sizeof(info)
        check(lib.kolo_build_info(ctypes.byref(info)))
        _build_info = info
    return _build_info


def start_timeline(file_path, mark_cycles=False):
    """Starts a Chrome-trace timeline at `file_path` (written by rank 0; not collective)."""
    require_init()
    check(lib.kolo_start_timeline(None, os.fsencode(file_path), 1 if mark_cycles else 0))


def stop_timeline():
    """Closes the timeline file as complete JSON; a no-op when none is being written."""
    require_init()
    check(lib.kolo_stop_timeline(None))


def membership_generation():
    """Elastic jobs: (generation joined, newest published by kolorun); (-1, -1) otherwise."""
    require_init()
    joined, latest = ctypes.c_int64(), ctypes.c_int64()
    check(lib.kolo_membership_generation(None, ctypes.byref(joined), ctypes.byref(latest)))
    return joined.value, latest.value


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
