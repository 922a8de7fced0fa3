"""Collectives over torch tensors with horovod.torch's names, signatures and defaults.

Memory: CPU tensors that are contiguous are read and written in place. A non-contiguous
tensor is copied to a contiguous one (and an in-place op copies the result back when it is
synchronized). CUDA tensors of allreduce, grouped allreduce and broadcast go to the runtime
as they are, with the current CUDA stream, when this build serves CUDA tensors
(build_info().cuda): NCCL when built with it and each rank has its own GPU, the runtime's
host staging otherwise. Ops whose output Kolo allocates (allgather, alltoall, reducescatter),
and every op in builds without CUDA, stage CUDA tensors here: a blocking copy to the host on
the current stream, and the result copied back to the device on synchronize. Supported
dtypes: float16, bfloat16, float32, float64, int8, uint8, int32, int64; others raise
KoloInvalidArgumentError naming the dtype.

Thread: any Python thread; waiting releases the GIL.
"""

import ctypes

import torch

from .. import _lib, _runtime
from ..errors import KoloInvalidArgumentError, KoloUnsupportedError
from ..process_sets import global_process_set, set_id
from .compression import Compression
from .sync_ops import barrier, join  # noqa: F401 (horovod.torch.mpi_ops names)

Sum = _lib.SUM
Average = _lib.AVERAGE
Min = _lib.MIN
Max = _lib.MAX
Product = _lib.PRODUCT
# Horovod's Adasum has no Kolo counterpart; passing it raises KoloUnsupportedError.
Adasum = 5

_DTYPES = {
    torch.float16: _lib.FLOAT16,
    torch.bfloat16: _lib.BFLOAT16,
    torch.float32: _lib.FLOAT32,
    torch.float64: _lib.FLOAT64,
    torch.int8: _lib.INT8,
    torch.uint8: _lib.UINT8,
    torch.int32: _lib.INT32,
    torch.int64: _lib.INT64,
}


def _resolve_op(average, op):
    if op is not None and average is not None:
        raise ValueError("pass either op or the deprecated average, not both")
    if op is None:
        op = Average if average is None or average else Sum
    if op == Adasum:
        raise KoloUnsupportedError("the Adasum reduction is not supported by Kolo; use "
                                   "Average or Sum", "KOLO_INVALID_ARGUMENT")
    if op not in (Sum, Average, Min, Max, Product):
        raise ValueError("unknown reduce op %r" % (op,))
    return op


def _staged(tensor, keep_device=False):
    """A contiguous tensor holding `tensor`'s data (the tensor itself when possible): on the
    CPU, or with `keep_device` (ops whose output the caller provides) on its CUDA device when
    this Kolo build serves CUDA tensors itself (NCCL, or the runtime's own host staging)."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError("expected a torch.Tensor, got %s" % type(tensor).__name__)
    if tensor.dtype not in _DTYPES:
        raise KoloInvalidArgumentError(
            "unsupported dtype %s; Kolo supports %s" % (
                tensor.dtype, ", ".join(str(d) for d in _DTYPES)), "KOLO_INVALID_ARGUMENT")
    if tensor.is_sparse:
        raise KoloInvalidArgumentError("sparse tensors are not supported; convert with "
                                       "to_dense()", "KOLO_INVALID_ARGUMENT")
    # Attribute checks rather than device objects: this runs once per gradient per step.
    t = tensor.detach() if tensor.requires_grad else tensor
    if not t.is_cpu and not (keep_device and t.is_cuda and _runtime.build_info().cuda):
        # A blocking copy on the tensor's current stream: ordered after the kernels that
        # produced it.
        t = t.to("cpu")
    return t.contiguous()


def _tensor_ref(t):
    if t.is_cpu:
        return _runtime.TensorRef(t.data_ptr(), _DTYPES[t.dtype], t.shape, t)
    # The runtime orders its work after the current stream and the stream after the result.
    return _runtime.TensorRef(t.data_ptr(), _DTYPES[t.dtype], t.shape, t, t.device.index,
                              torch.cuda.current_stream(t.device).cuda_stream)


def _same_memory(a, b):
    return a.device == b.device and a.data_ptr() == b.data_ptr() and a.is_contiguous()


def _kolo_output(dtype, device):
    """A finish step turning a Kolo-allocated output into a new tensor."""
    def finish(handle):
        ptr, nbytes, shape = _runtime.output_of(handle)
        out = torch.empty(shape, dtype=dtype)
        if nbytes:
            ctypes.memmove(out.data_ptr(), ptr, nbytes)
        return out if device.type == "cpu" else out.to(device)
    return finish


def _name(kind, name, process_set):
    return "%s.%s" % (kind, name) if name else _runtime.auto_name(kind, set_id(process_set))


# ---- allreduce ---------------------------------------------------------------------------

def _allreduce_submit(tensor, output, name, op, prescale_factor, postscale_factor,
                      process_set):
    """Reduces `tensor` into `output` (which may be the same tensor)."""
    src = _staged(tensor, keep_device=True)
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
        return _GroupHandle(handles, combine=lambda results: list(outputs))
    names = ["%s.%d" % (base, i) for i in range(len(tensors))]
    srcs, dsts = [], []
    for t, out in zip(tensors, outputs):
        src = _staged(t, keep_device=True)
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

def allgather_async(tensor, name=None, process_set=global_process_set):
    src = _staged(tensor)
    return _runtime.submit("allgather", _name("allgather", name, process_set),
                           _tensor_ref(src), finish=_kolo_output(src.dtype, tensor.device),
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
    output = torch.empty_like(tensor, memory_format=torch.contiguous_format)
    return _broadcast_submit(tensor, output, root_rank, name, process_set)


def broadcast_async_(tensor, root_rank, name=None, process_set=global_process_set):
    return _broadcast_submit(tensor, tensor, root_rank, name, process_set)


def _broadcast_submit(tensor, output, root_rank, name, process_set):
    src = _staged(tensor, keep_device=True)
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


def alltoall_async(tensor, splits=None, name=None, process_set=global_process_set):
    """synchronize() of the handle returns (output, received_splits), as with Horovod."""
    src = _staged(tensor)
    copy = _kolo_output(src.dtype, tensor.device)
    if isinstance(splits, torch.Tensor):
        splits = splits.tolist()

    def finish(handle):
        return copy(handle), torch.tensor(_runtime.received_splits_of(handle), dtype=torch.int32)
    return _runtime.submit("alltoall", _name("alltoall", name, process_set),
                           _tensor_ref(src), finish=finish,
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


def reducescatter_async(tensor, name=None, op=Average, process_set=global_process_set,
                        prescale_factor=1.0, postscale_factor=1.0):
    op = _resolve_op(None, op)
    src = _staged(tensor)
    return _runtime.submit("reducescatter", _name("reducescatter", name, process_set),
                           _tensor_ref(src), finish=_kolo_output(src.dtype, tensor.device), op=op,
                           prescale=prescale_factor, postscale=postscale_factor,
                           process_set=set_id(process_set))


def reducescatter(tensor, name=None, compression=Compression.none, op=Average,
                  process_set=global_process_set, prescale_factor=1.0, postscale_factor=1.0):
    """Reduces `tensor` and returns this rank's share of dimension 0. Differentiable."""
    op = _resolve_op(None, op)
    compressed, ctx = compression.compress(tensor)
    out = _ReducescatterFunction.apply(compressed, name, op, process_set, prescale_factor,
                                       postscale_factor)
    return compression.decompress(out, ctx)


class _ReducescatterFunction(torch.autograd.Function):
    """Backward: every rank's output gradient gathered back into the input's rows, scaled as
    the forward scaled (1/n for Average, and the pre- and postscale factors)."""

    @staticmethod
    def forward(ctx, tensor, name, op, process_set, prescale_factor, postscale_factor):
        ctx.args = (op, process_set, prescale_factor * postscale_factor)
        return synchronize(reducescatter_async(tensor, name, op, process_set, prescale_factor,
                                               postscale_factor))

    @staticmethod
    def backward(ctx, grad_output):
        op, process_set, scale = ctx.args
        if op not in (Sum, Average):
            raise KoloUnsupportedError("the gradient of reducescatter is defined for Sum and "
                                       "Average only", "KOLO_INVALID_ARGUMENT")
        grad = synchronize(allgather_async(grad_output.contiguous(), process_set=process_set))
        if op == Average:
            scale /= process_set.size()
        if scale != 1.0:
            grad = grad * scale
        return grad, None, None, None, None, None


class _GroupHandle:
    """Several handles completing as one (grouped allgather and reducescatter, grouped
    allreduce over several dtypes); `combine` turns their results into the op's result."""

    def __init__(self, handles, combine=None):
        self.handles = handles
        self.combine = combine


def _grouped(fn, tensors, name, kind, **kwargs):
    base = name or _runtime.auto_name(kind, set_id(kwargs["process_set"]))
    handles = [fn(t, name="%s.%d" % (base, i), **kwargs) for i, t in enumerate(tensors)]
    return _GroupHandle(handles)


def grouped_allgather_async(tensors, name=None, process_set=global_process_set):
    return _grouped(allgather_async, tensors, name, "grouped_allgather",
                    process_set=process_set)


def grouped_allgather(tensors, name=None, process_set=global_process_set):
    return synchronize(grouped_allgather_async(tensors, name, process_set))


def grouped_reducescatter_async(tensors, name=None, op=Average, process_set=global_process_set,
                                prescale_factor=1.0, postscale_factor=1.0):
    return _grouped(reducescatter_async, tensors, name, "grouped_reducescatter", op=op,
                    process_set=process_set, prescale_factor=prescale_factor,
                    postscale_factor=postscale_factor)


def grouped_reducescatter(tensors, name=None, compression=Compression.none, op=Average,
                          process_set=global_process_set, prescale_factor=1.0,
                          postscale_factor=1.0):
    pairs = [compression.compress(t) for t in tensors]
    outs = synchronize(grouped_reducescatter_async([p[0] for p in pairs], name, op,
                                                   process_set, prescale_factor,
                                                   postscale_factor))
    return [compression.decompress(o, p[1]) for o, p in zip(outs, pairs)]


def sparse_allreduce_async(tensor, name, op, process_set=global_process_set):
    raise KoloUnsupportedError("sparse allreduce is not supported by Kolo; use "
                               "sparse_as_dense=True or to_dense()", "KOLO_INVALID_ARGUMENT")


# ---- completion (join and barrier: sync_ops.py) -------------------------------------------

def poll(handle):
    """True once the op behind `handle` finished; never blocks."""
    if isinstance(handle, _GroupHandle):
        return all(_runtime.poll(h) for h in handle.handles)
    return _runtime.poll(handle)


def synchronize(handle):
    """Waits for the op and returns its output; raises KoloError if it failed."""
    if isinstance(handle, _GroupHandle):
        results = [_runtime.synchronize(h) for h in handle.handles]
        return handle.combine(results) if handle.combine else results
    return _runtime.synchronize(handle)
