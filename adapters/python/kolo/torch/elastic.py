"""`kolo.torch.elastic`: Horovod's `horovod.torch.elastic` names over Kolo's elastic mode
(see kolo.elastic for how a job re-forms after a rank fails).

    @hvd.elastic.run
    def train(state):
        for state.epoch in range(state.epoch, epochs):
            for state.batch in range(state.batch, batches):
                ...
                state.commit()          # every few batches
            state.batch = 0

    state = hvd.elastic.TorchState(model, optimizer, epoch=0, batch=0)
    train(state)
"""

import copy

from .. import _runtime
from .. import elastic as _elastic
from ..elastic import ObjectState, State  # noqa: F401  (Horovod exports them here too)
from . import functions
from .elastic_sampler import ElasticSampler  # noqa: F401  (hvd.elastic.ElasticSampler)


def run(func):
    """Decorator: see kolo.elastic.run_fn."""
    return _elastic.run_fn(func)


def _reset_optimizer(optimizer):
    """A DistributedOptimizer interrupted mid-step holds handles of the broken session."""
    for name in ("_handles", "_group_ready"):
        table = getattr(optimizer, name, None)
        if isinstance(table, dict):
            table.clear()
    delay = getattr(optimizer, "_allreduce_delay", None)
    passes = getattr(optimizer, "backward_passes_per_step", None)
    if isinstance(delay, dict) and passes is not None:
        for p in delay:
            delay[p] = passes
    if hasattr(optimizer, "_synchronized"):
        optimizer._synchronized = False


class TorchState(ObjectState):
    """A model, an optimizer and plain fields (`TorchState(model, optimizer, epoch=0)`).
    commit() keeps copies in memory; restore() puts them back; sync() broadcasts rank 0's
    parameters, optimizer state and fields to every rank."""

    def __init__(self, model=None, optimizer=None, **kwargs):
        self.model = model
        self.optimizer = optimizer
        self._saved_model = None
        self._saved_optimizer = None
        # ElasticSampler fields are kept by their state_dict (Horovod's sampler handler), not
        # deep-copied with their dataset.
        self._samplers = {k: v for k, v in kwargs.items() if isinstance(v, ElasticSampler)}
        self._saved_samplers = {}
        for name, sampler in self._samplers.items():
            setattr(self, name, sampler)
        super().__init__(bcast_object=functions.broadcast_object, get_rank=_runtime.rank,
                         **{k: v for k, v in kwargs.items() if k not in self._samplers})
        self._save_tensors()

    def _save_tensors(self):
        if self.model is not None:
            self._saved_model = copy.deepcopy(self.model.state_dict())
        if self.optimizer is not None:
            self._saved_optimizer = copy.deepcopy(self.optimizer.state_dict())
        self._saved_samplers = {k: v.state_dict() for k, v in self._samplers.items()}

    def _sync_samplers(self):
        """Every rank's sampler progress, allgathered and merged alike on every rank (see
        ElasticSampler.merge), then split over the ranks of the job now."""
        for name, sampler in self._samplers.items():
            sampler.merge(functions.allgather_object(
                sampler.state_dict(), name="kolo.elastic.sampler.%s" % name))

    def save(self):
        self._save_tensors()
        super().save()

    def restore(self):
        if self.model is not None and self._saved_model is not None:
            self.model.load_state_dict(self._saved_model)
        if self.optimizer is not None:
            _reset_optimizer(self.optimizer)
            if self._saved_optimizer is not None:
                self.optimizer.load_state_dict(self._saved_optimizer)
        for name, saved in self._saved_samplers.items():
            self._samplers[name].load_state_dict(saved)
        super().restore()

    def sync(self):
        if self.model is not None:
            functions.broadcast_parameters(self.model.state_dict(), root_rank=0)
        if self.optimizer is not None:
            functions.broadcast_optimizer_state(self.optimizer, root_rank=0)
        self._sync_samplers()
        super().sync()
