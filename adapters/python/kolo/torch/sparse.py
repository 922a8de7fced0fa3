"""sparse_allreduce_async: the reduction of a torch sparse COO tensor, as horovod.torch does it.

Every rank's indices (as rows: nnz x sparse_dim) and values (nnz x dense dims) are allgathered
over the process set, in rank order; the result is the sparse tensor holding all of them, of the
input's shape, dtype and device. It is not coalesced: an index held by several ranks (or twice
by one) appears once per holder, and coalesce() (or any dense use) sums them. So the result is
the Sum of the ranks' tensors; Average also divides the values by the set's size. The ranks'
nnz may differ, and may be 0.

Other ops raise KoloInvalidArgumentError (Horovod returns the same concatenation, a Sum, for
any op other than Average). Average of integer values raises too: dividing each value before
the duplicates are summed would truncate differently from the dense average.

Thread: any Python thread; waiting releases the GIL.
"""

import torch

from .. import _runtime
from ..errors import KoloInvalidArgumentError
from ..process_sets import global_process_set, set_id
from .handles import GroupHandle, synchronize
from .reduce_ops import Average, Sum
from .reduce_ops import resolve_op
from .tensors import DTYPES, unsupported_dtype

_OP_NAMES = {Average: "Average", Sum: "Sum"}


class SparseHandle(GroupHandle):
    """The handle of a sparse allreduce: poll() and synchronize() take it, and calling it
    returns the result too (Horovod's handle is a function that does that)."""

    def __call__(self):
        return synchronize(self)


def _check_sparse(tensor, op):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError("sparse_allreduce_async expects a torch.Tensor, got %s"
                        % type(tensor).__name__)
    if tensor.layout != torch.sparse_coo:
        raise KoloInvalidArgumentError(
            "sparse_allreduce_async takes a sparse COO tensor; got layout %s (use allreduce "
            "for dense tensors)" % (tensor.layout,), "KOLO_INVALID_ARGUMENT")
    if tensor.dtype not in DTYPES:
        raise unsupported_dtype(tensor, "sparse allreduce")
    if op not in _OP_NAMES:
        raise KoloInvalidArgumentError(
            "sparse allreduce reduces with Sum or Average only (it gathers every rank's "
            "entries); got op %r" % (op,), "KOLO_INVALID_ARGUMENT")
    if op == Average and not tensor.dtype.is_floating_point:
        raise KoloInvalidArgumentError(
            "sparse allreduce with op=Average needs floating-point values; got %s (use op=Sum)"
            % (tensor.dtype,), "KOLO_INVALID_ARGUMENT")


def sparse_allreduce_async(tensor, name, op, process_set=global_process_set):
    """Starts the Sum or Average of sparse COO `tensor` over `process_set` (see the module's
    text); synchronize() of the handle returns the uncoalesced sparse result."""
    from .mpi_ops import allgather_async  # mpi_ops imports this module

    op = resolve_op(None, op)
    _check_sparse(tensor, op)
    base = name or _runtime.auto_name("sparse_allreduce", set_id(process_set))
    indices = tensor._indices().t().contiguous()
    values = tensor._values().contiguous()
    handles = [allgather_async(values, name="%s.values" % base, process_set=process_set),
               allgather_async(indices, name="%s.indices" % base, process_set=process_set)]
    ranks = process_set.size()
    shape, dtype, device = tensor.shape, tensor.dtype, tensor.device

    def combine(results):
        all_values, all_indices = results
        if op == Average:
            all_values = all_values / ranks
        return torch.sparse_coo_tensor(all_indices.t(), all_values, shape, dtype=dtype,
                                       device=device)
    return SparseHandle(handles, combine)
