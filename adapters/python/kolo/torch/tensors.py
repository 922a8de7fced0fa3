"""How kolo.torch hands torch tensors to the runtime: the dtype table, staging to contiguous
(and, where needed, host) memory, tensor descriptors and Kolo-allocated outputs.

dtypes: float16, bfloat16, float32, float64, int8, uint8, int16, int32, int64 for every op;
bool for the ops that only move data (broadcast, allgather, alltoall, send, recv), which carry it as
uint8 and hand back bool tensors. Any other dtype, and bool for a reduction, raises
KoloInvalidArgumentError (a ValueError, as Horovod's "Tensor type ... is not supported.").

Thread: any Python thread.
"""

import ctypes

import torch

from .. import _lib, _runtime
from ..errors import KoloInvalidArgumentError
from ..process_sets import set_id

DTYPES = {
    torch.float16: _lib.FLOAT16,
    torch.bfloat16: _lib.BFLOAT16,
    torch.float32: _lib.FLOAT32,
    torch.float64: _lib.FLOAT64,
    torch.int8: _lib.INT8,
    torch.uint8: _lib.UINT8,
    torch.int16: _lib.INT16,
    torch.int32: _lib.INT32,
    torch.int64: _lib.INT64,
}

# Reductions of these stay in host memory even when the build serves CUDA tensors: NCCL has no
# 16-bit integer type.
_HOST_REDUCED = (torch.int16,)
# The ops that only move data, and so take bool tensors.
_MOVERS = ("broadcast", "allgather", "alltoall", "send", "recv")


def unsupported_dtype(tensor, kind):
    """Horovod's ValueError text for a tensor type it rejects, then Kolo's detail."""
    allowed = ", ".join(str(d).replace("torch.", "") for d in DTYPES)
    extra = " (and bool)" if kind in _MOVERS else ""
    return KoloInvalidArgumentError(
        "Tensor type %s is not supported. Kolo's %s takes %s%s; got %s" % (
            tensor.type(), kind, allowed, extra, tensor.dtype), "KOLO_INVALID_ARGUMENT")


def check(tensor, kind):
    """Raises what Horovod raises for a tensor `kind` cannot take (grouped ops check every
    tensor before submitting any)."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError("%s expects a torch.Tensor, got %s" % (kind, type(tensor).__name__))
    if tensor.dtype not in DTYPES and not (tensor.dtype == torch.bool and kind in _MOVERS):
        raise unsupported_dtype(tensor, kind)
    if tensor.is_sparse:
        raise KoloInvalidArgumentError("sparse tensors are not supported; convert with "
                                       "to_dense()", "KOLO_INVALID_ARGUMENT")


def staged(tensor, kind, keep_device=False):
    """A contiguous tensor holding `tensor`'s data (the tensor itself when possible): on the
    CPU, or with `keep_device` (ops whose output the caller provides) on its CUDA device when
    this Kolo build serves CUDA tensors itself (NCCL, or the runtime's own host staging).
    A bool tensor of a data-moving op comes back as a uint8 view of the same memory."""
    check(tensor, kind)
    t = tensor.view(torch.uint8) if tensor.dtype == torch.bool else tensor
    # Attribute checks rather than device objects: this runs once per gradient per step.
    if t.requires_grad:
        t = t.detach()
    if keep_device and kind in ("allreduce", "reducescatter") and t.dtype in _HOST_REDUCED:
        keep_device = False
    if not t.is_cpu and not (keep_device and t.is_cuda and _runtime.build_info().cuda):
        # A blocking copy on the tensor's current stream: ordered after the kernels that
        # produced it.
        t = t.to("cpu")
    return t.contiguous()


def tensor_ref(t):
    if t.is_cpu:
        return _runtime.TensorRef(t.data_ptr(), DTYPES[t.dtype], t.shape, t)
    # The runtime orders its work after the current stream and the stream after the result.
    return _runtime.TensorRef(t.data_ptr(), DTYPES[t.dtype], t.shape, t, t.device.index,
                              torch.cuda.current_stream(t.device).cuda_stream)


def same_memory(a, b):
    return a.device == b.device and a.data_ptr() == b.data_ptr() and a.is_contiguous()


def kolo_output(dtype, device, index=0):
    """A finish step turning a Kolo-allocated output (`index`: the tensor's place in a grouped
    op) into a new tensor of `dtype` (bool data travels as uint8 bytes, which are the bool
    tensor's bytes)."""
    def finish(handle):
        ptr, nbytes, shape = _runtime.output_of(handle, index)
        out = torch.empty(shape, dtype=dtype)
        if nbytes:
            ctypes.memmove(out.data_ptr(), ptr, nbytes)
        return out if device.type == "cpu" else out.to(device)
    return finish


def output_or_result(src, output, dtype, device):
    """The output and finish step of a row op (allgather, alltoall, reducescatter) from `src`:
    Kolo writes `output` itself (returned as the op's result) when it is a contiguous host
    tensor of src's dtype; otherwise (no output, or one Kolo cannot write) Kolo allocates the
    result, which the finish step returns as a new tensor of `dtype` on `device`, or copies
    into `output` (which must then have as many elements)."""
    if output is None:
        return None, kolo_output(dtype, device)
    if src.is_cpu and output.is_cpu and output.is_contiguous() and output.dtype == src.dtype:
        return tensor_ref(output), lambda handle: output
    allocated = kolo_output(dtype, device)

    def finish(handle):
        result = allocated(handle)
        if result.numel() != output.numel():
            raise KoloInvalidArgumentError(
                "the result has %d elements but the output %d" % (result.numel(), output.numel()),
                "KOLO_INVALID_ARGUMENT")
        return output.copy_(result.view(output.shape))
    return None, finish


def op_name(kind, name, process_set):
    return "%s.%s" % (kind, name) if name else _runtime.auto_name(kind, set_id(process_set))
