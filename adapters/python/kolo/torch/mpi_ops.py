"""Collectives over torch tensors with horovod.torch's names, signatures and defaults.

Memory: CPU tensors that are contiguous are read and written in place. A non-contiguous
tensor is copied to a contiguous one (and an in-place op copies the result back when it is
synchronized). CUDA tensors of allreduce, grouped allreduce and broadcast go to the runtime
as they are, with the current CUDA stream, when this build serves CUDA tensors
(build_info().cuda): NCCL when built with it and each rank has its own GPU, the runtime's
host staging otherwise. Ops whose output Kolo allocates (allgather, alltoall, reducescatter),
int16 reductions (NCCL has no int16), and every op in builds without CUDA, stage CUDA tensors
here: a blocking copy to the host on the current stream, and the result copied back to the
device on synchronize. dtypes: see tensors.py. Reducescatter: reducescatter.py.

Thread: any Python thread; waiting releases the GIL.
"""

import torch

from .. import _runtime
from ..process_sets import global_process_set, set_id
from .compression import Compression
from .grouped_rows import grouped_rows_async
from .handles import GroupHandle, group_of, poll, synchronize  # noqa: F401 (horovod names)
from .reduce_ops import Adasum, Average, Max, Min, Product, Sum  # noqa: F401
from .reduce_ops import resolve_op as _resolve_op
from .reducescatter import (grouped_reducescatter, grouped_reducescatter_async,  # noqa: F401
                            reducescatter, reducescatter_async)
from .sparse import SparseHandle, sparse_allreduce_async  # noqa: F401 (horovod name)
from .sync_ops import barrier, join  # noqa: F401 (horovod.torch.mpi_ops names)
from .tensors import check as _check
from .tensors import op_name as _name
from .tensors import output_or_result as _output_or_result
from .tensors import same_memory as _same_memory
from .tensors import staged as _staged
from .tensors import tensor_ref as _tensor_ref


# ---- allreduce ---------------------------------------------------------------------------

def _allreduce_submit(tensor, output, name, op, prescale_factor, postscale_factor,
                      process_set):
    """Reduces `tensor` into `output` (which may be the same tensor)."""
    src = _staged(tensor, "allreduce", keep_device=True)
    if output is tensor and (src is tensor or _same_memory(src, tensor)):
        ref = _tensor_ref(src)
        return _runtime.submit("allreduce", _name("allreduce", name, process_set), ref, ref,
                               finish=lambda handle: output, op=op, prescale=prescale_factor,
                               postscale=postscale_factor, process_set=set_id(process_set))
    # Kolo writes `output` directly when it can (a contiguous CPU tensor like the input, as
    # allreduce_async allocates); otherwise a staging tensor, copied out on synchronize.
    direct = (output.is_cpu and output.dtype == src.dtype and output.shape == src.shape and
              output.is_contiguous() and output is not tensor)
    dst = output if direct else torch.empty_like(src)

    def finish(handle):
        if dst is not output:
            output.copy_(dst.view(output.shape))
        return output
    return _runtime.submit("allreduce", _name("allreduce", name, process_set),
                           _tensor_ref(src), _tensor_ref(dst),
                           finish=finish, op=op, prescale=prescale_factor,
                           postscale=postscale_factor, process_set=set_id(process_set))


def allreduce_async(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                    postscale_factor=1.0, process_set=global_process_set):
    op = _resolve_op(average, op)
    _check(tensor, "allreduce")
    output = torch.empty_like(tensor, memory_format=torch.contiguous_format)
    return _allreduce_submit(tensor, output, name, op, prescale_factor, postscale_factor,
                             process_set)


def allreduce_async_(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                     postscale_factor=1.0, process_set=global_process_set):
    op = _resolve_op(average, op)
    return _allreduce_submit(tensor, tensor, name, op, prescale_factor, postscale_factor,
                             process_set)


class _AllreduceFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, name, op, prescale_factor, postscale_factor, process_set):
        ctx.args = (op, prescale_factor, postscale_factor, process_set)
        return synchronize(allreduce_async(tensor, None, name, op, prescale_factor,
                                           postscale_factor, process_set))

    @staticmethod
    def backward(ctx, grad_output):
        op, pre, post, process_set = ctx.args
        grad = synchronize(allreduce_async(grad_output.contiguous(), None, None, op, pre, post,
                                           process_set))
        return grad, None, None, None, None, None


def allreduce(tensor, average=None, name=None, compression=Compression.none, op=None,
              prescale_factor=1.0, postscale_factor=1.0, process_set=global_process_set):
    """A new tensor reducing `tensor` over the set (default op: Average). Differentiable:
    the gradient is the same reduction of the output's gradient."""
    op = _resolve_op(average, op)
    compressed, ctx = compression.compress(tensor)
    out = _AllreduceFunction.apply(compressed, name, op, prescale_factor, postscale_factor,
                                   process_set)
    return compression.decompress(out, ctx)


def allreduce_(tensor, average=None, name=None, op=None, prescale_factor=1.0,
               postscale_factor=1.0, process_set=global_process_set):
    return synchronize(allreduce_async_(tensor, average, name, op, prescale_factor,
                                        postscale_factor, process_set))


def _grouped_submit(tensors, outputs, name, op, prescale_factor, postscale_factor,
                    process_set):
    if not tensors:
        raise ValueError("grouped ops need at least one tensor")
    for t in tensors:
        _check(t, "allreduce")
    base = name or _runtime.auto_name("grouped_allreduce", set_id(process_set))
    kinds = sorted({(str(t.dtype).replace("torch.", ""), t.device.type) for t in tensors})
    if len(kinds) > 1:
        # The runtime groups one dtype on one kind of device at a time: one grouped op per
        # (dtype, device), named by them so every rank forms the same sub-groups.
        handles = []
        for dtype, device in kinds:
            idx = [i for i, t in enumerate(tensors)
                   if str(t.dtype).replace("torch.", "") == dtype and t.device.type == device]
            suffix = dtype if device == "cpu" else "%s.%s" % (dtype, device)
            handles.append(_grouped_submit(
                [tensors[i] for i in idx], [outputs[i] for i in idx],
                "%s.%s" % (base, suffix), op, prescale_factor, postscale_factor, process_set))
        return GroupHandle(handles, combine=lambda results: list(outputs))
    names = ["%s.%d" % (base, i) for i in range(len(tensors))]
    srcs, dsts = [], []
    for t, out in zip(tensors, outputs):
        src = _staged(t, "allreduce", keep_device=True)
        srcs.append(src)
        dsts.append(src if out is t and _same_memory(src, t) else torch.empty_like(src))

    def finish(handle):
        for dst, out in zip(dsts, outputs):
            if not _same_memory(dst, out):
                out.copy_(dst.view(out.shape))
        return list(outputs)
    return _runtime.submit_grouped_allreduce(
        names, list(map(_tensor_ref, srcs)), list(map(_tensor_ref, dsts)), finish=finish, op=op,
        prescale=prescale_factor, postscale=postscale_factor, process_set=set_id(process_set))


def grouped_allreduce_async(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                            postscale_factor=1.0, process_set=global_process_set):
    op = _resolve_op(average, op)
    for t in tensors:
        _check(t, "allreduce")
    outputs = [torch.empty_like(t, memory_format=torch.contiguous_format) for t in tensors]
    return _grouped_submit(list(tensors), outputs, name, op, prescale_factor,
                           postscale_factor, process_set)


def grouped_allreduce_async_(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                             postscale_factor=1.0, process_set=global_process_set):
    op = _resolve_op(average, op)
    tensors = list(tensors)
    return _grouped_submit(tensors, tensors, name, op, prescale_factor, postscale_factor,
                           process_set)


class _GroupedAllreduceFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, name, op, prescale_factor, postscale_factor, process_set, *tensors):
        ctx.args = (op, prescale_factor, postscale_factor, process_set)
        return tuple(synchronize(grouped_allreduce_async(list(tensors), None, name, op,
                                                         prescale_factor, postscale_factor,
                                                         process_set)))

    @staticmethod
    def backward(ctx, *grad_outputs):
        op, pre, post, process_set = ctx.args
        grads = synchronize(grouped_allreduce_async([g.contiguous() for g in grad_outputs], None,
                                                    None, op, pre, post, process_set))
        return (None, None, None, None, None, *grads)


def grouped_allreduce(tensors, average=None, name=None, compression=Compression.none,
                      op=None, prescale_factor=1.0, postscale_factor=1.0,
                      process_set=global_process_set):
    """Reduces several tensors as one negotiated unit; returns new tensors. Differentiable,
    like allreduce."""
    op = _resolve_op(average, op)
    pairs = [compression.compress(t) for t in tensors]
    outs = _GroupedAllreduceFunction.apply(name, op, prescale_factor, postscale_factor,
                                           process_set, *[p[0] for p in pairs])
    return [compression.decompress(o, p[1]) for o, p in zip(outs, pairs)]


def grouped_allreduce_(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                       postscale_factor=1.0, process_set=global_process_set):
    return synchronize(grouped_allreduce_async_(tensors, average, name, op, prescale_factor,
                                                postscale_factor, process_set))


# ---- allgather, broadcast, alltoall, reducescatter ------------------------------------

def allgather_async(tensor, name=None, process_set=global_process_set, output=None):
    """Horovod's allgather_async; `output` (a Kolo extension, as torch's
    all_gather_into_tensor): a tensor the gathered rows are written to, returned as the
    result (directly where it is a contiguous host tensor of the input's dtype)."""
    src = _staged(tensor, "allgather")
    into, finish = _output_or_result(src, output, tensor.dtype, tensor.device)
    return _runtime.submit("allgather", _name("allgather", name, process_set),
                           _tensor_ref(src), output=into, finish=finish,
                           process_set=set_id(process_set))


class _AllgatherFunction(torch.autograd.Function):
    """Backward as Horovod's: the averaged gradient of the gathered tensor, narrowed to this
    rank's rows."""

    @staticmethod
    def forward(ctx, tensor, name, process_set):
        ctx.rows = tensor.shape[0] if tensor.dim() else 1
        ctx.process_set = process_set
        return synchronize(allgather_async(tensor, name, process_set))

    @staticmethod
    def backward(ctx, grad_output):
        ps = ctx.process_set
        grad = synchronize(allreduce_async(grad_output.contiguous(), op=Average, process_set=ps))
        rows = synchronize(allgather_async(torch.tensor([ctx.rows], dtype=torch.int64),
                                           process_set=ps))
        offset = int(rows[:ps.rank()].sum())
        return grad.narrow(0, offset, ctx.rows), None, None


def allgather(tensor, name=None, process_set=global_process_set):
    """Every rank's tensor concatenated along dimension 0 in rank order (the first
    dimension may differ between ranks). Differentiable."""
    return _AllgatherFunction.apply(tensor, name, process_set)


def broadcast_async(tensor, root_rank, name=None, process_set=global_process_set):
    _check(tensor, "broadcast")
    output = torch.empty_like(tensor, memory_format=torch.contiguous_format)
    return _broadcast_submit(tensor, output, root_rank, name, process_set)


def broadcast_async_(tensor, root_rank, name=None, process_set=global_process_set):
    return _broadcast_submit(tensor, tensor, root_rank, name, process_set)


def _broadcast_submit(tensor, output, root_rank, name, process_set):
    src = _staged(tensor, "broadcast", keep_device=True)
    dst = src if output is tensor and _same_memory(src, tensor) else torch.empty_like(src)

    def finish(handle):
        if not _same_memory(dst, output):
            output.copy_(dst.view(output.shape))
        return output
    return _runtime.submit("broadcast", _name("broadcast", name, process_set),
                           _tensor_ref(src), _tensor_ref(dst),
                           finish=finish, root_rank=root_rank,
                           process_set=set_id(process_set))


class _BroadcastFunction(torch.autograd.Function):
    """Backward as Horovod's: the averaged gradient on the root, zero elsewhere."""

    @staticmethod
    def forward(ctx, tensor, root_rank, name, process_set):
        ctx.root_rank = root_rank
        ctx.process_set = process_set
        return synchronize(broadcast_async(tensor, root_rank, name, process_set))

    @staticmethod
    def backward(ctx, grad_output):
        grad = synchronize(allreduce_async(grad_output.contiguous(), op=Average,
                                           process_set=ctx.process_set))
        if _runtime.rank() != ctx.root_rank:
            grad.zero_()
        return grad, None, None, None


def broadcast(tensor, root_rank, name=None, process_set=global_process_set):
    """A new tensor holding the root's value on every rank. Differentiable."""
    return _BroadcastFunction.apply(tensor, root_rank, name, process_set)


def broadcast_(tensor, root_rank, name=None, process_set=global_process_set):
    """Overwrites `tensor` with the root's value; returns it."""
    return synchronize(broadcast_async_(tensor, root_rank, name, process_set))


def alltoall_async(tensor, splits=None, name=None, process_set=global_process_set,
                   output=None):
    """synchronize() of the handle returns (output, received_splits), as with Horovod;
    `output` as allgather_async's (a Kolo extension, as torch's all_to_all_single)."""
    src = _staged(tensor, "alltoall")
    into, copy = _output_or_result(src, output, tensor.dtype, tensor.device)
    if isinstance(splits, torch.Tensor):
        splits = splits.tolist()

    def finish(handle):
        return copy(handle), torch.tensor(_runtime.received_splits_of(handle), dtype=torch.int32)
    return _runtime.submit("alltoall", _name("alltoall", name, process_set),
                           _tensor_ref(src), output=into, finish=finish,
                           splits=splits, process_set=set_id(process_set))


class _AlltoallFunction(torch.autograd.Function):
    """Backward: the gradient rows go back where they came from (an alltoall with the
    received splits)."""

    @staticmethod
    def forward(ctx, tensor, splits, name, process_set):
        output, received = synchronize(alltoall_async(tensor, splits, name, process_set))
        ctx.received = received
        ctx.process_set = process_set
        if splits is None:
            return output
        ctx.mark_non_differentiable(received)
        return output, received

    @staticmethod
    def backward(ctx, grad_output, *unused):
        grad, _ = synchronize(alltoall_async(grad_output.contiguous(), ctx.received,
                                             process_set=ctx.process_set))
        return grad, None, None, None


def alltoall(tensor, splits=None, name=None, process_set=global_process_set):
    """Sends splits[i] rows (default: an even share) to member i; returns the received rows
    in member order, and with `splits` also the rows received from each member.
    Differentiable."""
    return _AlltoallFunction.apply(tensor, splits, name, process_set)


def grouped_allgather_async(tensors, name=None, process_set=global_process_set):
    return grouped_rows_async("allgather", tensors, name, process_set,
                              lambda t, member: allgather_async(t, member, process_set))


class _GroupedAllgatherFunction(torch.autograd.Function):
    """Backward as Horovod's: each gradient averaged over the set (one grouped allreduce),
    narrowed to this rank's rows."""

    @staticmethod
    def forward(ctx, name, process_set, *tensors):
        ctx.rows = [t.shape[0] if t.dim() else 1 for t in tensors]
        ctx.process_set = process_set
        return tuple(synchronize(grouped_allgather_async(tensors, name, process_set)))

    @staticmethod
    def backward(ctx, *grad_outputs):
        ps = ctx.process_set
        grads = synchronize(grouped_allreduce_async([g.contiguous() for g in grad_outputs],
                                                    op=Average, process_set=ps))
        rows = synchronize(allgather_async(torch.tensor(ctx.rows, dtype=torch.int64),
                                           process_set=ps)).view(ps.size(), len(ctx.rows))
        offsets = rows[:ps.rank()].sum(dim=0).tolist()
        return (None, None, *[g.narrow(0, int(o), n)
                              for g, o, n in zip(grads, offsets, ctx.rows)])


def grouped_allgather(tensors, name=None, process_set=global_process_set):
    """allgather of each tensor, negotiated together; returns new tensors. Differentiable,
    like allgather."""
    return list(_GroupedAllgatherFunction.apply(name, process_set, *tensors))
