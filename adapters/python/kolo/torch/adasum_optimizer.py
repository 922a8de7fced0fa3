"""DistributedOptimizer(op=Adasum): combines each rank's parameter update, not its gradient.

Adasum is not linear, so reducing gradients and then applying a stateful optimizer (momentum,
Adam) is not what the method describes; as in Horovod, the wrapped optimizer first takes its
step locally, the change it made to each parameter (the delta) is combined over the ranks with
op=Adasum, and every rank sets the parameter to its value before the step plus the combined
delta. Each parameter is its own vector for Adasum's dot products and its own allreduce (the
runtime never fuses Adasum tensors). Gradients accumulate in p.grad between steps as usual, so
backward_passes_per_step needs no bookkeeping here.

Thread: the caller's.
"""

import contextlib

import torch

from ..process_sets import global_process_set
from . import mpi_ops
from .compression import Compression
from .param_names import parameter_names


class _DistributedAdasumOptimizer(torch.optim.Optimizer):
    def __init__(self, params, named_parameters, compression, process_set):
        super(self.__class__, self).__init__(params)
        self._compression = compression
        self._process_set = process_set
        all_params = [p for group in self.param_groups for p in group["params"]]
        self._parameter_names = parameter_names(all_params, named_parameters)
        self._trainable = [p for p in all_params if p.requires_grad]

    def synchronize(self):
        """Nothing to wait for: the deltas are combined inside step()."""

    @contextlib.contextmanager
    def skip_synchronize(self):
        yield

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if not self._process_set.included():
            return super(self.__class__, self).step()
        starts = []
        for p in self._trainable:
            if p.grad is None:
                # This rank did not use p; its local step leaves p as is (a zero delta), but
                # every rank must take part in p's allreduce.
                p.grad = torch.zeros_like(p)
            starts.append(p.detach().clone())
        super(self.__class__, self).step()
        pending = []
        for p, start in zip(self._trainable, starts):
            delta = p.detach() - start
            compressed, ctx = self._compression.compress(delta)
            handle = mpi_ops.allreduce_async_(compressed, name="adasum." + self._parameter_names[p],
                                              op=mpi_ops.Adasum, process_set=self._process_set)
            pending.append((p, start, handle, compressed, ctx))
        with torch.no_grad():
            for p, start, handle, compressed, ctx in pending:
                mpi_ops.synchronize(handle)
                p.copy_(start + self._compression.decompress(compressed, ctx).to(p.dtype))
        return loss


def adasum_optimizer(optimizer, named_parameters=None, compression=Compression.none,
                     process_set=global_process_set):
    """The Adasum DistributedOptimizer around `optimizer` (see the module's text)."""
    cls = type(optimizer.__class__.__name__, (optimizer.__class__,),
               dict(_DistributedAdasumOptimizer.__dict__))
    return cls(optimizer.param_groups, named_parameters, compression, process_set)
