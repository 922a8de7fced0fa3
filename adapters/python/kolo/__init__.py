"""Kolo: collective communication for data-parallel training.

    import kolo
    kolo.init()
    mean = kolo.allreduce(np.ones(4, np.float32))   # average over every rank

Start ranks with `kolorun -np N python3 train.py`; a process started alone is a world of one.
Every op also takes any framework's array through DLPack (PyTorch, JAX, TensorFlow, CuPy, ...)
and returns the caller's own array type; `kolo.torch` offers horovod.torch's names and
semantics over torch tensors.
"""

from . import _runtime
from .errors import (KoloError, KoloInvalidArgumentError, KoloMismatchError, KoloPeerError,
                     KoloTimeoutError, KoloUnsupportedError)
from .numpy_ops import (Adasum, Average, Max, Min, Product, Sum, allgather, allgather_async,
                        allreduce, allreduce_, allreduce_async, allreduce_async_, alltoall,
                        alltoall_async, barrier, barrier_async, broadcast, broadcast_,
                        broadcast_async, broadcast_async_, grouped_allgather,
                        grouped_allgather_async, grouped_reducescatter,
                        grouped_reducescatter_async, join, join_async, poll,
                        reducescatter, reducescatter_async, synchronize)
from .p2p import irecv, isend, recv, send
from .process_sets import ProcessSet, add_process_set, global_process_set, remove_process_set

__version__ = "0.1.0"


def init(fusion_threshold_bytes=None, timeline_path=None):
    """Joins the job; the KOLO_* environment (set by kolorun) describes it."""
    _runtime.init(fusion_threshold_bytes, timeline_path)


def shutdown():
    """Collective: leaves the job; init() may be called again afterwards."""
    _runtime.shutdown()


def is_initialized():
    return _runtime.is_initialized()


def start_timeline(file_path, mark_cycles=False):
    """Starts writing a Chrome-trace timeline (rank 0 writes it). Starting again with the same
    path is a no-op; another path while one is open raises KoloError. Not collective."""
    _runtime.start_timeline(file_path, mark_cycles)


def stop_timeline():
    """Closes the timeline as complete JSON; a no-op when none is open."""
    _runtime.stop_timeline()


def _query(fn):
    def query():
        _runtime.require_init()
        return fn()
    query.__name__ = fn.__name__
    query.__doc__ = "This process's %s (raises KoloError before init())." % fn.__name__
    return query


rank = _query(_runtime.rank)
size = _query(_runtime.size)
local_rank = _query(_runtime.local_rank)
local_size = _query(_runtime.local_size)
cross_rank = _query(_runtime.cross_rank)
cross_size = _query(_runtime.cross_size)

__all__ = [
    "KoloError", "KoloInvalidArgumentError", "KoloMismatchError", "KoloPeerError",
    "KoloTimeoutError", "KoloUnsupportedError", "Adasum", "Average", "Max", "Min", "Product",
    "Sum",
    "allgather", "allgather_async", "allreduce", "allreduce_", "allreduce_async",
    "allreduce_async_", "alltoall", "alltoall_async", "barrier", "barrier_async", "broadcast",
    "broadcast_", "broadcast_async", "broadcast_async_", "grouped_allgather",
    "grouped_allgather_async", "grouped_reducescatter", "grouped_reducescatter_async", "join",
    "join_async", "poll", "reducescatter", "send", "recv", "isend", "irecv", "reducescatter_async", "synchronize", "ProcessSet",
    "add_process_set", "global_process_set", "remove_process_set", "init", "shutdown",
    "is_initialized", "start_timeline", "stop_timeline", "rank", "size", "local_rank",
    "local_size", "cross_rank", "cross_size",
]
