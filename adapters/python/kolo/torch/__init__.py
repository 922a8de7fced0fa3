"""horovod.torch's API on Kolo: a Horovod script runs by changing only its import,

    import kolo.torch as hvd

Differences are documented where they apply: Adasum and sparse allreduce raise
KoloUnsupportedError; timelines are chosen at init() (KOLO_TIMELINE), so start_timeline()
after init raises; CUDA tensors are staged through host memory.
"""

from .. import _runtime
from ..errors import (KoloError, KoloInvalidArgumentError, KoloMismatchError, KoloPeerError,
                      KoloTimeoutError, KoloUnsupportedError)
from ..process_sets import ProcessSet, add_process_set, global_process_set, remove_process_set
from .compression import Compression
from .functions import (allgather_object, broadcast_object, broadcast_optimizer_state,
                        broadcast_parameters)
from .mpi_ops import (Adasum, Average, Max, Min, Product, Sum, allgather, allgather_async,
                      allreduce, allreduce_, allreduce_async, allreduce_async_, alltoall,
                      alltoall_async, barrier, broadcast, broadcast_, broadcast_async,
                      broadcast_async_, grouped_allgather, grouped_allgather_async,
                      grouped_allreduce, grouped_allreduce_, grouped_allreduce_async,
                      grouped_allreduce_async_, grouped_reducescatter,
                      grouped_reducescatter_async, join, poll, reducescatter,
                      reducescatter_async, sparse_allreduce_async, synchronize)
from .optimizer import DistributedOptimizer
from .sync_batch_norm import SyncBatchNorm

# Horovod's exception names, so `except hvd.HorovodInternalError` keeps working.
HorovodInternalError = KoloError


class HostsUpdatedInterrupt(KoloError):
    """Horovod's elastic-mode interrupt; Kolo has no elastic mode, so it is never raised."""


def init(comm=None, process_sets=None):
    """Joins the job; `process_sets` (ProcessSet objects) are registered right after.
    An MPI communicator (`comm`) is not supported."""
    if comm is not None:
        raise KoloUnsupportedError("init(comm=...) with an MPI communicator is not supported "
                                   "by Kolo; start ranks with kolorun", "KOLO_INVALID_ARGUMENT")
    _runtime.init()
    if process_sets == "dynamic":
        return
    for ps in process_sets or []:
        add_process_set(ps)


def shutdown():
    _runtime.shutdown()


def is_initialized():
    return _runtime.is_initialized()


def _query(fn):
    def query():
        if not _runtime.is_initialized():
            raise ValueError("Kolo has not been initialized; use hvd.init().")
        return fn()
    query.__name__ = fn.__name__
    return query


rank = _query(_runtime.rank)
size = _query(_runtime.size)
local_rank = _query(_runtime.local_rank)
local_size = _query(_runtime.local_size)
cross_rank = _query(_runtime.cross_rank)
cross_size = _query(_runtime.cross_size)


def is_homogeneous():
    return True


def mpi_threads_supported():
    return False


def mpi_enabled():
    return False


def mpi_built():
    return False


def gloo_enabled():
    return False


def gloo_built():
    return False


def nccl_built():
    return 0


def ddl_built():
    return False


def ccl_built():
    return False


def cuda_built():
    """False: CUDA tensors work, staged through host memory, but no GPU path is built in."""
    return False


def rocm_built():
    return False


def start_timeline(file_path, mark_cycles=False):
    raise KoloUnsupportedError(
        "start_timeline() at run time is not supported by Kolo; set KOLO_TIMELINE=%s before "
        "init() to record a timeline" % file_path, "KOLO_INVALID_USAGE")


def stop_timeline():
    raise KoloUnsupportedError("stop_timeline() is not supported by Kolo; the timeline set "
                               "with KOLO_TIMELINE is closed at shutdown()",
                               "KOLO_INVALID_USAGE")


__all__ = [
    "KoloError", "KoloInvalidArgumentError", "KoloMismatchError", "KoloPeerError",
    "KoloTimeoutError", "KoloUnsupportedError", "ProcessSet", "add_process_set",
    "global_process_set", "remove_process_set", "Compression", "allgather_object",
    "broadcast_object", "broadcast_optimizer_state", "broadcast_parameters", "Adasum", "Average",
    "Max", "Min", "Product", "Sum", "allgather", "allgather_async", "allreduce", "allreduce_",
    "allreduce_async", "allreduce_async_", "alltoall", "alltoall_async", "barrier", "broadcast",
    "broadcast_", "broadcast_async", "broadcast_async_", "grouped_allgather",
    "grouped_allgather_async", "grouped_allreduce", "grouped_allreduce_",
    "grouped_allreduce_async", "grouped_allreduce_async_", "grouped_reducescatter",
    "grouped_reducescatter_async", "join", "poll", "reducescatter", "reducescatter_async",
    "sparse_allreduce_async", "synchronize", "DistributedOptimizer", "SyncBatchNorm",
    "HorovodInternalError", "HostsUpdatedInterrupt", "init", "shutdown", "is_initialized", "rank",
    "size", "local_rank", "local_size", "cross_rank", "cross_size", "is_homogeneous",
    "mpi_threads_supported", "mpi_enabled", "mpi_built", "gloo_enabled", "gloo_built",
    "nccl_built", "ddl_built", "ccl_built", "cuda_built", "rocm_built", "start_timeline",
    "stop_timeline",
]
