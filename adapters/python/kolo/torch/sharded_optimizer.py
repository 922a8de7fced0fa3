"""ShardedOptimizer: data-parallel training with the optimizer state (ZeRO-1) and optionally
the gradients (ZeRO-2) split across the ranks of a process set.

Parameters are packed into flat buckets in backward order (sharded_layout.py). A hook on each
parameter's gradient accumulator starts its bucket's reducescatter (op=Average, the reduction
DistributedOptimizer applies) as soon as backward has produced every gradient of the bucket,
so communication overlaps the rest of backward. step() waits for them; each rank then runs the
wrapped optimizer on its slice of every bucket only (a local copy of the wrapped optimizer
whose parameters are those slices, so its state is 1/n of the unsharded one) and the updated
slices are allgathered back into the parameters before step() returns. Each bucket keeps one
flat host buffer of its gathered parameters whose slice is this rank's shard: the update
writes the shard there and the allgather fills in the other slices in place (Kolo writes the
caller's buffer: no allocation per step). Contiguous host parameters become views of that
buffer (as FSDP's flat parameters), so nothing is copied; others are copied out of it.

stage=1 leaves each parameter's local gradient in p.grad; stage=2 frees p.grad as soon as it
was packed into its bucket, so between steps a rank holds only its 1/n of the reduced
gradients. Checkpoints: sharded_state.py.

Thread: the hooks run on the autograd thread; step() and synchronize() on the caller's.
"""

import copy
import itertools
from collections import defaultdict

import torch

from .. import _runtime
from ..errors import KoloUnsupportedError
from ..process_sets import global_process_set, set_id
from . import sharded_state
from .handles import synchronize as wait
from .mpi_ops import Average
from .grad_hooks import register_grad_hook
from .param_names import parameter_names
from .sharded_layout import build_buckets
from .tensors import tensor_ref

_instances = itertools.count()


class _ShardedOptimizer(torch.optim.Optimizer):
    def __init__(self, params, local, optimizer_state_dict, named_parameters, stage,
                 bucket_cap_mb, process_set):
        super(self.__class__, self).__init__(params)
        self.state = defaultdict(dict)  # what the constructor made (Adagrad's sums): unused
        self._stage = stage
        self._process_set = process_set
        self._prefix = "sharded.%d" % next(_instances)
        all_params = [p for group in self.param_groups for p in group["params"]]
        self._parameter_names = parameter_names(all_params, named_parameters)
        self._buckets = build_buckets(self.param_groups, int(bucket_cap_mb * 2**20),
                                      process_set.size(), max(process_set.rank(), 0))
        self._bucket_of = {p: b for b in self._buckets for p in b.params}
        # Each bucket's parameters gathered into one flat host buffer, kept from step to step:
        # this rank's shard is its slice of it, so the updated shard is already in place there
        # and the allgather fills in the other ranks' slices (no allocation, no copy out of
        # Kolo's output); contiguous host parameters are views of it, others copied out of it.
        self._gathered = [b.flatten([p.detach() for p in b.params]) for b in self._buckets]
        self._shards = [g[b.lo:b.hi] for b, g in zip(self._buckets, self._gathered)]
        self._views = [_view_parameters(b, g) for b, g in zip(self._buckets, self._gathered)]
        self._local = local
        local.param_groups = [dict(group, params=[]) for group in self.param_groups]
        local.state = defaultdict(dict)
        for b, shard in zip(self._buckets, self._shards):
            local.param_groups[b.group_index]["params"].append(shard)
        if optimizer_state_dict is not None:
            # State the wrapped optimizer already has (Adagrad creates its sums at
            # construction; a loaded checkpoint): each rank keeps its slices of it.
            sharded_state.load(self, optimizer_state_dict)
        self._buffers = {}
        self._grads = {}
        self._versions = {}
        self._ready = defaultdict(set)
        self._inflight = {}
        self._state_checked = False
        self._all_state_dicts = None
        self._grad_accumulators = []
        self._synchronized = False
        if process_set.included():
            self._register_hooks()

    def _register_hooks(self):
        for p in self._bucket_of:
            register_grad_hook(p, self._make_hook(p), self._grad_accumulators)

    def _make_hook(self, p):
        bucket = self._bucket_of[p]

        def hook(*unused):
            if bucket.index in self._inflight:
                raise AssertionError(
                    "the gradient of '%s' was computed twice before step(); ShardedOptimizer "
                    "reduces each gradient once per step" % self._parameter_names[p])
            ready = self._ready[bucket.index]
            ready.add(p)
            if len(ready) == len(bucket.params):
                self._launch(bucket)
        return hook

    def _launch(self, bucket):
        """Packs the bucket's gradients (zeros for a parameter this rank did not use) and
        starts their reducescatter; stage 2 frees the full gradients at once."""
        grads = []
        for p in bucket.params:
            g = p.grad
            if g is None:
                g = torch.zeros_like(p)
            elif g.is_sparse:
                g = g.to_dense()
            grads.append(g.detach())
        flat = bucket.flatten(grads, self._buffers.get(bucket.index))
        if self._stage == 1:
            # Stage 1 keeps each bucket's buffer from step to step (no allocation and first
            # touch of a full gradient's memory each step); stage 2 gives it back to save
            # that memory.
            self._buffers[bucket.index] = flat
        else:
            for p in bucket.params:
                p.grad = None
        # The reduced slice lands in the shard's gradient buffer, kept from step to step.
        grad = self._grads.get(bucket.index)
        if grad is None:
            grad = self._grads[bucket.index] = torch.empty_like(self._shards[bucket.index])
        handle = _runtime.submit("reducescatter", "%s.grad.%d" % (self._prefix, bucket.index),
                                 tensor_ref(flat), output=tensor_ref(grad), op=Average,
                                 process_set=set_id(self._process_set))
        self._ready.pop(bucket.index, None)
        self._inflight[bucket.index] = (handle, flat)

    # -- public ------------------------------------------------------------------------------

    def synchronize(self):
        """Waits for every bucket's reducescatter (starting those backward did not complete)
        and makes the results the gradients of this rank's shards."""
        if not self._process_set.included():
            return
        for b in self._buckets:
            if b.index not in self._inflight:
                self._launch(b)
        for b, shard in zip(self._buckets, self._shards):
            handle, _ = self._inflight.pop(b.index)
            wait(handle)
            shard.grad = self._grads[b.index]
        self._synchronized = True

    def step(self, closure=None):
        """Reduces the gradients (unless synchronize() already did), updates this rank's shard
        and allgathers the updated parameters. `closure`, if given, is called first (it runs
        forward and backward) and its loss returned."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if not self._process_set.included():
            return loss
        if not self._synchronized:
            self.synchronize()
        self._synchronized = False
        with torch.no_grad():
            for b, shard in zip(self._buckets, self._shards):
                # A parameter written since the last step (a loaded checkpoint) has a new
                # version: the shard takes its values again.
                if [p._version for p in b.params] != self._versions.get(b.index):
                    shard.copy_(b.shard_of(b.params))
        self._sync_hyperparameters()
        self._local.step()
        for shard in self._shards:
            shard.grad = None
        if not self._state_checked:
            sharded_state.check_elementwise(self._local, self._shards)
            self._state_checked = True
        self._gather_parameters()
        return loss

    def _gather_parameters(self):
        """Allgathers every bucket in place (this rank's updated slice is already in its
        gathered buffer); parameters that are not views of it get copies."""
        handles = [_runtime.submit("allgather", "%s.param.%d" % (self._prefix, b.index),
                                   tensor_ref(shard), output=tensor_ref(gathered),
                                   process_set=set_id(self._process_set))
                   for b, shard, gathered in zip(self._buckets, self._shards, self._gathered)]
        with torch.no_grad():
            for b, handle, gathered in zip(self._buckets, handles, self._gathered):
                wait(handle)
                views = self._views[b.index] or [None] * len(b.params)
                for p, piece, at in zip(b.params, b.unflatten(gathered), views):
                    if p.data_ptr() != at:  # not (or no longer) a view of the buffer
                        p.copy_(piece)
                # Written behind autograd's back: the step's writes count as one version.
                self._versions[b.index] = [p._version for p in b.params]

    def _sync_hyperparameters(self):
        """Carries options set on the exposed param groups (lr by a scheduler) to the local
        optimizer's groups."""
        for exposed, local in zip(self.param_groups, self._local.param_groups):
            for key, value in exposed.items():
                if key != "params":
                    local[key] = value

    def zero_grad(self, *args, **kwargs):
        if self._inflight or any(self._ready.values()):
            raise AssertionError("optimizer.zero_grad() was called after loss.backward() but "
                                 "before optimizer.step() or optimizer.synchronize()")
        return super(self.__class__, self).zero_grad(*args, **kwargs)

    def add_param_group(self, param_group):
        if hasattr(self, "_buckets"):
            raise KoloUnsupportedError("ShardedOptimizer cannot add a param group after it was "
                                       "built; give the wrapped optimizer every group first",
                                       "KOLO_INVALID_ARGUMENT")
        return super(self.__class__, self).add_param_group(param_group)

    def consolidate_state_dict(self, to=0):
        """Collects every rank's shard of the state on rank `to`, where state_dict() then
        returns it in the wrapped optimizer's own format. Collective: call it on every rank."""
        self._sync_hyperparameters()
        self._all_state_dicts = sharded_state.consolidate(self, to)

    def state_dict(self):
        """The whole optimizer state as the wrapped optimizer would have it (loadable by it, by
        DistributedOptimizer or by a ShardedOptimizer at any size), from the last
        consolidate_state_dict() to this rank; raises on a rank it was not consolidated to."""
        if self._all_state_dicts is None:
            raise RuntimeError("the optimizer state has not been consolidated on this rank; call "
                               "consolidate_state_dict(to=%d) on every rank first"
                               % self._process_set.rank())
        return self._all_state_dicts

    def sharded_state_dict(self):
        """This rank's shard of the state, for load_state_dict() on the same rank of a job
        with the same size, parameters and bucket_cap_mb. Not collective."""
        return sharded_state.sharded(self)

    def load_state_dict(self, state_dict):
        """Loads a state_dict() (consolidated: the wrapped optimizer's format) or a
        sharded_state_dict() of this rank. Not collective."""
        sharded_state.load(self, state_dict)

    def _broadcast_state(self, root_rank):
        """broadcast_optimizer_state() for a ShardedOptimizer: each rank's state is its own
        shard, so only the param groups' options travel."""
        from .functions import broadcast_object
        groups = [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups]
        groups = broadcast_object(groups, root_rank, name=self._prefix + ".groups",
                                  process_set=self._process_set)
        for exposed, options in zip(self.param_groups, groups):
            exposed.update(options)


def _view_parameters(bucket, gathered):
    """Makes the bucket's parameters views of its gathered buffer (as FSDP's flat parameters),
    so the allgather writes them directly, when all are contiguous host tensors; returns their
    addresses (None: they stay apart and take a copy each step). A parameter re-pointed later
    (p.data replaced, the model moved) is noticed by its address and copied into instead."""
    if not all(p.device.type == "cpu" and p.is_contiguous() and p.dtype == bucket.dtype
               for p in bucket.params):
        return None
    views = bucket.unflatten(gathered)
    for p, view in zip(bucket.params, views):
        p.data = view
    return [view.data_ptr() for view in views]


def _check_supported(optimizer, stage, process_set):
    if stage not in (1, 2):
        raise ValueError("stage must be 1 (optimizer state sharded) or 2 (gradients too), "
                         "not %r" % (stage,))
    if isinstance(optimizer, torch.optim.LBFGS):
        raise KoloUnsupportedError(
            "ShardedOptimizer cannot shard torch.optim.LBFGS: its state (search directions "
            "and curvature history) spans all parameters together, and ShardedOptimizer needs "
            "an optimizer whose state is per parameter element (SGD, Adam, AdamW, ...)",
            "KOLO_INVALID_ARGUMENT")
    if isinstance(optimizer, torch.optim.SparseAdam):
        raise KoloUnsupportedError(
            "ShardedOptimizer cannot shard torch.optim.SparseAdam: it needs sparse gradients, "
            "and the reduced shards are dense", "KOLO_INVALID_ARGUMENT")
    if hasattr(optimizer, "_buckets"):
        raise ValueError("the optimizer is already a ShardedOptimizer")
    if process_set.included() and process_set.size() < 1:
        raise ValueError("empty process set")


def ShardedOptimizer(optimizer, named_parameters=None, stage=1, bucket_cap_mb=25.0,
                     process_set=global_process_set):
    """Wraps `optimizer` as DistributedOptimizer does (gradients averaged over the ranks of
    `process_set`), with its state split across those ranks: stage=1 (ZeRO-1) shards the
    optimizer state, stage=2 (ZeRO-2) the gradients too. Gradients travel in buckets of at
    most `bucket_cap_mb` MiB. Every rank must build it with the same parameters in the same
    order. State `optimizer` already holds is split the same way (and dropped from it). The
    result is an instance of a class derived from the wrapped optimizer's."""
    _check_supported(optimizer, stage, process_set)
    if bucket_cap_mb <= 0:
        raise ValueError("bucket_cap_mb must be positive")
    local = copy.copy(optimizer)
    existing = optimizer.state_dict() if optimizer.state else None
    optimizer.state = defaultdict(dict)  # the full state lives on only as slices
    cls = type(optimizer.__class__.__name__, (optimizer.__class__,),
               dict(_ShardedOptimizer.__dict__))
    return cls(optimizer.param_groups, local, existing, named_parameters, stage, bucket_cap_mb,
               process_set)
