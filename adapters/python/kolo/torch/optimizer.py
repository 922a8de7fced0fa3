"""DistributedOptimizer: averages gradients over ranks while backward is still running.

A hook on each parameter's gradient accumulator starts that gradient's allreduce as soon as
backward has produced it, so communication of the last layers overlaps the backward pass of
the first ones; step() (or synchronize()) waits for all of them and then applies the wrapped
optimizer's update. The returned object is an instance of a class derived from the wrapped
optimizer's class, so isinstance checks and schedulers keep working. Sparse gradients (e.g.
of nn.Embedding(sparse=True)) go through sparse_allreduce_async (sparse.py), or, with
sparse_as_dense=True, through the dense allreduce and back to sparse, as with Horovod.

Thread: the hooks run on the autograd thread; step() and synchronize() on the caller's.
"""

import contextlib
import warnings

import torch

from ..process_sets import global_process_set
from . import mpi_ops
from .adasum_optimizer import adasum_optimizer
from .compression import Compression
from .grad_hooks import register_grad_hook
from .param_names import parameter_names


class _DistributedOptimizer(torch.optim.Optimizer):
    def __init__(self, params, named_parameters, compression, backward_passes_per_step, op,
                 gradient_predivide_factor, groups, sparse_as_dense, process_set):
        super(self.__class__, self).__init__(params)
        self._compression = compression
        self._op = op
        self._predivide = gradient_predivide_factor
        self._sparse_as_dense = sparse_as_dense
        self._process_set = process_set

        all_params = [p for group in self.param_groups for p in group["params"]]
        self._parameter_names = parameter_names(all_params, named_parameters)

        trainable = [p for p in all_params if p.requires_grad]
        self._group_of = _assign_groups(groups, trainable, self._parameter_names)
        self._group_ready = {}
        self.backward_passes_per_step = backward_passes_per_step
        self._allreduce_delay = {p: backward_passes_per_step for p in all_params}
        self._handles = {}
        self._grad_accumulators = []
        self._requires_update = set()
        self._synchronized = False
        self._should_synchronize = True
        if process_set.included():
            self._register_hooks()

    # -- hooks -------------------------------------------------------------------------------

    def _register_hooks(self):
        for group in self.param_groups:
            for p in group["params"]:
                if not p.requires_grad:
                    continue
                self._requires_update.add(p)
                register_grad_hook(p, self._make_hook(p), self._grad_accumulators)

    def _make_hook(self, p):
        def hook(*unused):
            if p in self._handles and self._handles[p][0] is not None:
                if self._allreduce_delay[p] <= 0:
                    raise AssertionError(
                        "gradients were computed more than backward_passes_per_step (%d) "
                        "times before step(); raise backward_passes_per_step to accumulate "
                        "them locally" % self.backward_passes_per_step)
            self._allreduce_delay[p] -= 1
            self._handles.setdefault(p, (None, None))
            if self._allreduce_delay[p] == 0:
                group = self._group_of.get(p)
                if group is None:
                    self._handles[p] = self._allreduce_grad_async(p)
                else:
                    ready = self._group_ready.setdefault(group, set())
                    ready.add(p)
                    if len(ready) == len(group):
                        self._allreduce_group_async(group)
        return hook

    def _prepare_grad(self, p):
        """The dense tensor to allreduce for p and its compression context. A sparse gradient
        (sparse_as_dense=True) is reduced as its dense form, written back as sparse again."""
        if p.grad is None:
            # This rank did not use p, but every rank must take part in its allreduce.
            p.grad = torch.zeros_like(p)
        if p.grad.is_sparse:
            return self._compression.compress(p.grad.to_dense())
        return self._compression.compress(p.grad)

    def _sparse_path(self, p):
        return p.grad is not None and p.grad.is_sparse and not self._sparse_as_dense

    def _scale_factors(self):
        if self._op == mpi_ops.Average:
            # Average = sum * (1/size); the predivide factor moves part of that scaling
            # before the sum to keep fp16 sums in range.
            return 1.0 / self._predivide, self._predivide
        return 1.0, 1.0

    def _allreduce_group_async(self, group):
        """One grouped allreduce for a whole group: negotiated as a unit, fused together.
        Sparse gradients (sparse_as_dense=False) leave the group for their own sparse op."""
        self._group_ready.pop(group, None)
        dense = []
        for p in group:
            if self._sparse_path(p):
                self._handles[p] = self._allreduce_grad_async(p)
            else:
                dense.append(p)
        if not dense:
            return
        prepared = [self._prepare_grad(p) for p in dense]
        prescale, postscale = self._scale_factors()
        handle = mpi_ops.grouped_allreduce_async_(
            [c for c, _ in prepared], name="group." + self._parameter_names[group[0]],
            op=self._op, prescale_factor=prescale, postscale_factor=postscale,
            process_set=self._process_set)
        shared = _GroupSubmission(handle)
        for p, prep in zip(dense, prepared):
            self._handles[p] = (shared, prep)

    def _allreduce_grad_async(self, p):
        if self._sparse_path(p):
            # Horovod's sparse path: indices and values allgathered, no compression.
            handle = mpi_ops.sparse_allreduce_async(p.grad, name=self._parameter_names[p],
                                                    op=self._op, process_set=self._process_set)
            return handle, (None, None)
        compressed, ctx = self._prepare_grad(p)
        prescale, postscale = self._scale_factors()
        handle = mpi_ops.allreduce_async_(compressed, name=self._parameter_names[p],
                                          op=self._op, prescale_factor=prescale,
                                          postscale_factor=postscale,
                                          process_set=self._process_set)
        return handle, (compressed, ctx)

    # -- public ------------------------------------------------------------------------------

    def synchronize(self):
        """Waits for every gradient's allreduce and writes the results into p.grad."""
        if not self._process_set.included():
            self._synchronized = True
            return
        for p in self._requires_update:
            if p in self._handles and self._handles[p][0] is not None:
                continue
            group = self._group_of.get(p)
            if group is None:
                self._handles[p] = self._allreduce_grad_async(p)
            else:
                self._allreduce_group_async(group)
        for p, (handle, (compressed, ctx)) in list(self._handles.items()):
            if isinstance(handle, _GroupSubmission):
                handle.wait()
                result = None
            else:
                result = mpi_ops.synchronize(handle)
            self._allreduce_delay[p] = self.backward_passes_per_step
            if isinstance(handle, mpi_ops.SparseHandle):
                p.grad = result
            elif p.grad.is_sparse:
                # sparse_as_dense: the reduced dense gradient, sparse again in p.grad's layout.
                dense = self._compression.decompress(compressed, ctx).to(p.grad.dtype)
                p.grad = dense.to_sparse(p.grad.sparse_dim())
            elif compressed is not p.grad:
                p.grad.copy_(self._compression.decompress(compressed, ctx))
        self._handles.clear()
        self._synchronized = True

    @contextlib.contextmanager
    def skip_synchronize(self):
        """Within this block step() does not synchronize (call synchronize() first)."""
        self._should_synchronize = False
        try:
            yield
        finally:
            self._should_synchronize = True

    def step(self, closure=None):
        if self._should_synchronize:
            if self._synchronized:
                # Horovod's text, which scripts filter on, then Kolo's detail.
                warnings.warn("optimizer.step() called without optimizer.skip_synchronize() "
                              "context after optimizer.synchronize(). This can cause training "
                              "slowdown. You may want to consider using "
                              "optimizer.skip_synchronize() context if you use "
                              "optimizer.synchronize() in your code. (Kolo: the gradients "
                              "were already reduced by synchronize() and are not reduced "
                              "again.)")
            else:
                self.synchronize()
        self._synchronized = False
        return super(self.__class__, self).step(closure)

    def zero_grad(self, *args, **kwargs):
        if self._handles:
            raise AssertionError("optimizer.zero_grad() was called after loss.backward() but "
                                 "before optimizer.step() or optimizer.synchronize()")
        return super(self.__class__, self).zero_grad(*args, **kwargs)


class _GroupSubmission:
    """The handle of one grouped allreduce, shared by its parameters; waited for once."""

    def __init__(self, handle):
        self.handle = handle
        self.done = False

    def wait(self):
        if not self.done:
            self.done = True
            mpi_ops.synchronize(self.handle)


def _assign_groups(groups, trainable, names):
    """Maps each grouped parameter to its group (a tuple, in parameter order)."""
    if groups is None or groups == 0:
        return {}
    if isinstance(groups, int):
        per = -(-len(trainable) // groups)
        lists = [trainable[i:i + per] for i in range(0, len(trainable), per)]
    else:
        lists = [list(g) for g in groups]
    group_of = {}
    for g in lists:
        t = tuple(g)
        for p in t:
            if p not in names:
                raise ValueError("groups holds a tensor that is not a parameter of the "
                                 "optimizer")
            if p in group_of:
                raise ValueError("parameter '%s' appears in two groups" % names[p])
            group_of[p] = t
    return group_of


def DistributedOptimizer(optimizer, named_parameters=None, compression=Compression.none,
                         backward_passes_per_step=1, op=mpi_ops.Average,
                         gradient_predivide_factor=1.0, num_groups=0, groups=None,
                         sparse_as_dense=False, process_set=global_process_set):
    """Wraps `optimizer` so its step() applies gradients averaged (or `op`-reduced) over the
    ranks of `process_set`. `groups` (a count, or lists of parameters) makes each group one
    grouped allreduce, started once all its gradients are ready; `num_groups` is its older
    spelling."""
    if op == mpi_ops.Adasum:
        # Combines parameter deltas after a local step instead (adasum_optimizer.py).
        if gradient_predivide_factor != 1.0:
            raise ValueError("gradient_predivide_factor requires op=Average")
        return adasum_optimizer(optimizer, named_parameters, compression, process_set)
    if gradient_predivide_factor != 1.0 and op != mpi_ops.Average:
        raise ValueError("gradient_predivide_factor requires op=Average")
    if backward_passes_per_step < 1:
        raise ValueError("backward_passes_per_step must be at least 1")
    if groups is not None and not (isinstance(groups, int) or isinstance(groups, list)):
        raise ValueError("groups must be an int or a list of lists of parameters")
    if num_groups != 0:
        warnings.warn("Parameter `num_groups` has been replaced by `groups` and will be "
                      "removed in v0.23.0.", DeprecationWarning, stacklevel=2)
        if groups is None:
            groups = num_groups
    cls = type(optimizer.__class__.__name__, (optimizer.__class__,),
               dict(_DistributedOptimizer.__dict__))
    return cls(optimizer.param_groups, named_parameters, compression, backward_passes_per_step,
               op, gradient_predivide_factor, groups, sparse_as_dense, process_set)
