"""Grouped allgather and reducescatter over torch tensors: one runtime group (negotiated as a
unit and fused into as few collectives as the fusion buffer allows, as Horovod's
grouped_allgather and grouped_reducescatter), or one op per tensor where the runtime cannot
group them (several dtypes; tensors the runtime serves on their CUDA device).

Thread: any Python thread.
"""

from .. import _runtime
from ..process_sets import set_id
from .handles import group_of
from .tensors import check, kolo_output, staged, tensor_ref


def grouped_rows_async(kind, tensors, name, process_set, submit_one, **opts):
    """The handle of a grouped `kind` (allgather or reducescatter); synchronize() returns the
    list of outputs. `submit_one(tensor, member_name)` submits one tensor alone."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("grouped ops need at least one tensor")
    for t in tensors:
        check(t, kind)
    srcs = [staged(t, kind) for t in tensors]
    if len({s.dtype for s in srcs}) > 1 or not all(s.is_cpu for s in srcs):
        return group_of(kind, tensors, name, process_set, check, submit_one)
    base = name or _runtime.auto_name("grouped_" + kind, set_id(process_set))
    outputs = [kolo_output(t.dtype, t.device, i) for i, t in enumerate(tensors)]
    return _runtime.submit_grouped(
        kind, ["%s.%d" % (base, i) for i in range(len(srcs))], [tensor_ref(s) for s in srcs],
        finish=lambda h: [out(h) for out in outputs], process_set=set_id(process_set), **opts)
