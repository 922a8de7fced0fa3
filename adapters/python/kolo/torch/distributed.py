"""Kolo as a torch.distributed backend, so DistributedDataParallel and dist.* calls run on it:

    import kolo.torch.distributed  # registers the "kolo" backend
    torch.distributed.init_process_group("kolo")  # under kolorun: RANK, WORLD_SIZE, ... are set
    model = torch.nn.parallel.DistributedDataParallel(model)

The process group is a Python subclass of torch's ProcessGroup (torch >= 1.13) over the
kolo.torch collectives: allreduce, broadcast, allgather and barrier, which is what DDP and
the common dist.* calls use; other collectives raise KoloUnsupportedError naming themselves.
Ops are matched across ranks by order, as torch.distributed requires anyway. Each call
completes before it returns (its Work is already done), so DDP's buckets do not overlap
backward here; DistributedOptimizer is the overlapping path.

Thread: the caller's (DDP calls from autograd threads; ranks issue in the same order).
"""

import datetime

import torch
import torch.distributed as dist

from .. import _runtime
from ..errors import KoloUnsupportedError
from . import mpi_ops

_create_work_from_future = getattr(torch._C._distributed_c10d, "_create_work_from_future",
                                   None)

_REDUCE_OPS = {
    dist.ReduceOp.SUM: mpi_ops.Sum,
    dist.ReduceOp.PRODUCT: mpi_ops.Product,
    dist.ReduceOp.MIN: mpi_ops.Min,
    dist.ReduceOp.MAX: mpi_ops.Max,
}
if hasattr(dist.ReduceOp, "AVG"):
    _REDUCE_OPS[dist.ReduceOp.AVG] = mpi_ops.Average


def _done(result):
    future = torch.futures.Future()
    future.set_result(result)
    return _create_work_from_future(future)


def _reduce_op(op):
    for torch_op, kolo_op in _REDUCE_OPS.items():
        if op == torch_op:
            return kolo_op
    raise KoloUnsupportedError("torch.distributed reduce op %s is not supported by Kolo (it "
                               "has SUM, AVG, PRODUCT, MIN, MAX)" % (op,),
                               "KOLO_INVALID_ARGUMENT")


class ProcessGroupKolo(dist.ProcessGroup):
    """The "kolo" backend's process group: every rank of the Kolo job."""

    def __init__(self, rank, size):
        super().__init__(rank, size)

    def getBackendName(self):
        return "kolo"

    def allreduce(self, tensors, opts=None):
        op = _reduce_op(opts.reduceOp if opts is not None else dist.ReduceOp.SUM)
        handles = [mpi_ops.allreduce_async_(t, op=op) for t in tensors]
        for h in handles:
            mpi_ops.synchronize(h)
        return _done(tensors)

    def broadcast(self, tensors, opts=None):
        root = opts.rootRank if opts is not None else 0
        handles = [mpi_ops.broadcast_async_(t, root) for t in tensors]
        for h in handles:
            mpi_ops.synchronize(h)
        return _done(tensors)

    def allgather(self, output_tensors, input_tensors, opts=None):
        for outputs, tensor in zip(output_tensors, input_tensors):
            gathered = mpi_ops.synchronize(mpi_ops.allgather_async(tensor.reshape(1, -1)))
            for out, row in zip(outputs, gathered):
                out.copy_(row.view(out.shape))
        return _done(output_tensors)

    def barrier(self, opts=None):
        mpi_ops.barrier()
        return _done([])

    def _unsupported(self, what):
        raise KoloUnsupportedError("torch.distributed %s is not supported by the kolo backend"
                                   % what, "KOLO_INVALID_USAGE")

    def reduce(self, *args, **kwargs):
        self._unsupported("reduce")

    def gather(self, *args, **kwargs):
        self._unsupported("gather")

    def scatter(self, *args, **kwargs):
        self._unsupported("scatter")

    def reduce_scatter(self, *args, **kwargs):
        self._unsupported("reduce_scatter")

    def send(self, *args, **kwargs):
        self._unsupported("send")

    def recv(self, *args, **kwargs):
        self._unsupported("recv")


def _create(store, rank, size, timeout=datetime.timedelta(minutes=30)):
    """The backend's constructor: joins the Kolo job (if not yet) and checks that torch's
    idea of the world is Kolo's."""
    if _create_work_from_future is None:
        raise KoloUnsupportedError("the kolo torch.distributed backend needs torch >= 1.13 "
                                   "(torch %s)" % torch.__version__, "KOLO_UNAVAILABLE")
    _runtime.init()
    if (rank, size) != (_runtime.rank(), _runtime.size()):
        raise KoloUnsupportedError(
            "torch.distributed asks for rank %d of %d, but Kolo is rank %d of %d; the kolo "
            "backend serves the whole job only" % (rank, size, _runtime.rank(),
                                                   _runtime.size()), "KOLO_INVALID_USAGE")
    return ProcessGroupKolo(rank, size)


if "kolo" not in [b.lower() for b in getattr(dist.Backend, "_plugins", {})] and \
        not hasattr(dist.Backend, "KOLO"):
    dist.Backend.register_backend("kolo", _create)
