"""Reducescatter and grouped reducescatter over torch tensors, with Horovod's gradients.

The gradient is Horovod's: the incoming gradient multiplied by the process set's size for
op=Sum and by the prescale and postscale factors, then allgathered (for Average it is the
plain allgather). This is the process set's size times the mathematical gradient of the
forward (which would be the allgather for Sum, and the allgather divided by the size for
Average); Kolo keeps Horovod's so training scripts behave the same.

Thread: any Python thread; waiting releases the GIL.
"""

import torch

from .. import _runtime
from ..process_sets import global_process_set, set_id
from .compression import Compression
from .grouped_rows import grouped_rows_async
from .handles import synchronize
from .reduce_ops import Average, Sum, resolve_op
from .tensors import kolo_output, op_name, output_or_result, staged, tensor_ref


def reducescatter_async(tensor, name=None, op=Average, process_set=global_process_set,
                        prescale_factor=1.0, postscale_factor=1.0, output=None):
    """Horovod's reducescatter_async; `output` as allgather_async's (a Kolo extension)."""
    op = resolve_op(None, op)
    src = staged(tensor, "reducescatter")
    into, finish = output_or_result(src, output, src.dtype, tensor.device)
    return _runtime.submit("reducescatter", op_name("reducescatter", name, process_set),
                           tensor_ref(src), output=into, finish=finish, op=op,
                           prescale=prescale_factor, postscale=postscale_factor,
                           process_set=set_id(process_set))


def _horovod_scale(grads, op, process_set, prescale_factor, postscale_factor):
    """Horovod's scaling of reducescatter's incoming gradients, before the allgather."""
    if op == Sum:
        grads = [g * process_set.size() for g in grads]
    if prescale_factor != 1.0:
        grads = [g * prescale_factor for g in grads]
    if postscale_factor != 1.0:
        grads = [g * postscale_factor for g in grads]
    return [g.contiguous() for g in grads]


class _ReducescatterFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, name, op, process_set, prescale_factor, postscale_factor):
        ctx.args = (op, process_set, prescale_factor, postscale_factor)
        return synchronize(reducescatter_async(tensor, name, op, process_set, prescale_factor,
                                               postscale_factor))

    @staticmethod
    def backward(ctx, grad_output):
        from .mpi_ops import allgather_async  # mpi_ops imports this module
        op, process_set, pre, post = ctx.args
        (grad,) = _horovod_scale([grad_output], op, process_set, pre, post)
        return (synchronize(allgather_async(grad, process_set=process_set)),
                None, None, None, None, None)


def reducescatter(tensor, name=None, compression=Compression.none, op=Average,
                  process_set=global_process_set, prescale_factor=1.0, postscale_factor=1.0):
    """Reduces `tensor` and returns this rank's share of dimension 0 (default op: Average).
    Differentiable, with Horovod's gradient (see the module docstring)."""
    op = resolve_op(None, op)
    compressed, ctx = compression.compress(tensor)
    out = _ReducescatterFunction.apply(compressed, name, op, process_set, prescale_factor,
                                       postscale_factor)
    return compression.decompress(out, ctx)


def grouped_reducescatter_async(tensors, name=None, op=Average, process_set=global_process_set,
                                prescale_factor=1.0, postscale_factor=1.0):
    op = resolve_op(None, op)
    return grouped_rows_async("reducescatter", tensors, name, process_set,
                              lambda t, member: reducescatter_async(
                                  t, member, op, process_set, prescale_factor,
                                  postscale_factor),
                              op=op, prescale=prescale_factor, postscale=postscale_factor)


class _GroupedReducescatterFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, name, op, process_set, prescale_factor, postscale_factor, *tensors):
        ctx.args = (op, process_set, prescale_factor, postscale_factor)
        return tuple(synchronize(grouped_reducescatter_async(
            tensors, name, op, process_set, prescale_factor, postscale_factor)))

    @staticmethod
    def backward(ctx, *grad_outputs):
        from .mpi_ops import grouped_allgather_async  # mpi_ops imports this module
        op, process_set, pre, post = ctx.args
        grads = _horovod_scale(grad_outputs, op, process_set, pre, post)
        return (None, None, None, None, None,
                *synchronize(grouped_allgather_async(grads, process_set=process_set)))


def grouped_reducescatter(tensors, name=None, compression=Compression.none, op=Average,
                          process_set=global_process_set, prescale_factor=1.0,
                          postscale_factor=1.0):
    """Reducescatter of each tensor, negotiated together; returns new tensors.
    Differentiable, with reducescatter's gradient."""
    op = resolve_op(None, op)
    pairs = [compression.compress(t) for t in tensors]
    outs = _GroupedReducescatterFunction.apply(name, op, process_set, prescale_factor,
                                               postscale_factor, *[p[0] for p in pairs])
    return [compression.decompress(o, p[1]) for o, p in zip(outs, pairs)]
