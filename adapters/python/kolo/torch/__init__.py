"""horovod.torch's API on Kolo: a Horovod script runs by changing only its import,

    import kolo.torch as hvd

Differences are documented where they apply (adapters/python/README.md):
init(comm=<subset or MPI communicator>) raises KoloUnsupportedError naming what is missing;
op=Adasum runs on CPU tensors over power-of-two process sets; sparse allreduce takes Sum and
Average only.
`import kolo.torch.distributed` also registers Kolo as a torch.distributed backend.
"""

from .. import _runtime
from . import elastic
from ..errors import (HostsUpdatedInterrupt, KoloError, KoloInvalidArgumentError,
                      KoloMismatchError, KoloPeerError, KoloTimeoutError, KoloUnsupportedError)
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
from .p2p import irecv, isend, recv, send
from .sharded_optimizer import ShardedOptimizer
from .sync_batch_norm import SyncBatchNorm

# Horovod's exception names, so `except hvd.HorovodInternalError` keeps working.
HorovodInternalError = KoloError



def init(comm=None, process_sets=None):
    """Joins the job kolorun (or mpirun) describes; `process_sets` (ProcessSet objects) are
    registered right after, "dynamic" allows add_process_set() later (always allowed here).
    `comm` may list every rank (what Horovod does by default); a subset of ranks or an mpi4py
    communicator is not supported, since Kolo's world is the launcher's."""
    if comm is not None and not isinstance(comm, (list, tuple, range)):
        raise KoloUnsupportedError("init(comm=<MPI communicator>) is not supported by Kolo; start "
                                   "ranks with kolorun or mpirun", "KOLO_INVALID_ARGUMENT")
    _runtime.init()
    if comm is not None and list(comm) not in ([], list(range(_runtime.size()))):
        _runtime.shutdown()  # every rank passed the same comm, so every rank leaves here
        raise KoloUnsupportedError("init(comm=%r): running on a subset of ranks is not supported "
                                   "by Kolo; use a ProcessSet instead" % (list(comm),),
                                   "KOLO_INVALID_ARGUMENT")
    if process_sets is None or isinstance(process_sets, str):
        if isinstance(process_sets, str) and process_sets.lower() != "dynamic":
            raise ValueError("process_sets must be a list of ProcessSet or 'dynamic', not %r"
                             % (process_sets,))
        return
    for ps in process_sets:
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
    """True when every host runs the same number of ranks (learned at init)."""
    if not _runtime.is_initialized():
        raise ValueError("Kolo has not been initialized; use hvd.init().")
    return _runtime.is_homogeneous()


# Build and backend queries. The *_built ones report what this libkolo.so was compiled with;
# the *_enabled ones Horovod's run-time controllers (MPI, Gloo), which Kolo replaces with its
# own coordinator and transports, so they are False. DDL, oneCCL and ROCm are never built.

def mpi_threads_supported():
    """False: Kolo does not share an MPI communicator with other MPI libraries (mpi4py)."""
    return False


def mpi_enabled():
    return False


def mpi_built():
    """True when Kolo was built with Open MPI (mpirun bootstrap, KOLO_CPU_OPERATIONS=mpi)."""
    return bool(_runtime.build_info().mpi)


def gloo_enabled():
    return False


def gloo_built():
    return False


def nccl_built():
    """NCCL's version code (e.g. 22803) when CUDA tensors can run on NCCL, as Horovod
    answers; 0 otherwise."""
    info = _runtime.build_info()
    return int(info.nccl_version) if info.nccl else 0


def ddl_built():
    return False


def ccl_built():
    return False


def cuda_built():
    """True when the runtime serves CUDA tensors itself (NCCL or its host staging); without
    it CUDA tensors still work, staged through host memory by this adapter."""
    return bool(_runtime.build_info().cuda)


def rocm_built():
    return False


def start_timeline(file_path, mark_cycles=False):
    """Starts writing a Chrome-trace timeline to `file_path` (rank 0 writes it, as with
    HOROVOD_TIMELINE); `mark_cycles` adds a mark per coordinator cycle. Starting again with
    the same path is a no-op; another path while one is open raises KoloError. Not collective.
    Raises ValueError before init(), like Horovod."""
    if not _runtime.is_initialized():
        raise ValueError("Kolo has not been initialized; use hvd.init().")
    _runtime.start_timeline(file_path, mark_cycles)


def stop_timeline():
    """Closes the timeline file as complete JSON; a no-op when none is open."""
    if not _runtime.is_initialized():
        raise ValueError("Kolo has not been initialized; use hvd.init().")
    _runtime.stop_timeline()


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
    "sparse_allreduce_async", "synchronize", "DistributedOptimizer", "ShardedOptimizer", "SyncBatchNorm",
    "HorovodInternalError", "HostsUpdatedInterrupt", "init", "shutdown", "is_initialized", "rank",
    "size", "local_rank", "local_size", "cross_rank", "cross_size", "is_homogeneous",
    "mpi_threads_supported", "mpi_enabled", "mpi_built", "gloo_enabled", "gloo_built",
    "nccl_built", "ddl_built", "ccl_built", "cuda_built", "rocm_built", "start_timeline",
    "stop_timeline", "elastic", "send", "recv", "isend", "irecv",
]
