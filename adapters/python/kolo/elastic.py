"""Elastic training: keep training when ranks fail.

Start the job with `kolorun --min-np N ...`. When a rank dies, kolorun keeps the job alive
while at least N ranks live and publishes a new membership generation in its store. The
survivors' pending and later collectives fail (KoloPeerError or KoloTimeoutError); the
`run` wrapper catches that, restores the state of the last `commit()`, shuts the broken
session down, joins the new generation (ranks renumbered by launch rank, so the lowest
surviving rank becomes rank 0), synchronizes the state from rank 0 and calls the training
function again, which resumes from the committed fields (epoch, batch, ...).

Growth: with `kolorun --host-discovery-script S --max-np M`, kolorun starts ranks on new slots
and publishes a larger generation. The new ranks join it at init; the running ranks notice at
their next `commit()` (`check_host_updates()` agrees on it across ranks with one allreduce),
raise `HostsUpdatedInterrupt` together, and re-form without restoring (the state was just
committed); the newcomers get the state from rank 0's `sync()`.

This module holds the framework-neutral parts (`State`, `ObjectState`, `run_fn`); the
PyTorch state is `kolo.torch.elastic.TorchState` and the wrapper `kolo.torch.elastic.run`.
"""

import copy
import functools

from . import _runtime
import ctypes

from . import _lib
from .errors import HostsUpdatedInterrupt, KoloError, KoloPeerError, KoloTimeoutError

# What a failed peer looks like to a survivor: a lost connection or a silent (stopped) peer.
RECOVERABLE = (KoloPeerError, KoloTimeoutError)


class State:
    """What `run` saves at `commit()`, restores after a failure and syncs from rank 0."""

    def __init__(self):
        self._reset_callbacks = []

    def register_reset_callbacks(self, callbacks):
        """Functions called (no arguments) after every re-formation of the job, e.g. to
        rescale the learning rate to the new size()."""
        self._reset_callbacks.extend(callbacks)

    def on_reset(self):
        for callback in self._reset_callbacks:
            callback()

    def on_hosts_updated(self, timestamp, update_res):
        """Horovod's host-discovery notification; Kolo does not add hosts while running."""

    def commit(self):
        """Saves the state; after a failure training resumes from the last commit."""
        self.save()
        self.check_host_updates()

    def check_host_updates(self):
        """Raises HostsUpdatedInterrupt on every rank when kolorun published a newer membership
        generation than the one this session joined (ranks were added or left). Ranks may see
        the new generation at different moments, so they agree with one allreduce (max)."""
        joined, latest = _runtime.membership_generation()
        if joined < 0:
            return
        flag = (ctypes.c_int32 * 1)(1 if latest > joined else 0)
        _runtime.synchronize(_runtime.submit(
            "allreduce", "kolo.elastic.host_updates",
            _runtime.TensorRef(ctypes.addressof(flag), _lib.INT32, (1,), flag), op=_lib.MAX))
        if flag[0]:
            raise HostsUpdatedInterrupt(skip_sync=False)

    def save(self):
        raise NotImplementedError

    def restore(self):
        raise NotImplementedError

    def sync(self):
        raise NotImplementedError


class ObjectState(State):
    """Plain Python fields (`ObjectState(epoch=0, batch=0)`), saved by deep copy and
    synchronized from rank 0 with broadcast_object."""

    def __init__(self, bcast_object=None, get_rank=None, **kwargs):
        super().__init__()
        self._bcast_object = bcast_object
        self._get_rank = get_rank
        self._saved_state = copy.deepcopy(kwargs)
        for name, value in kwargs.items():
            setattr(self, name, value)

    def _fields(self):
        return {name: getattr(self, name) for name in self._saved_state}

    def save(self):
        self._saved_state = copy.deepcopy(self._fields())

    def restore(self):
        for name, value in copy.deepcopy(self._saved_state).items():
            setattr(self, name, value)

    def sync(self):
        if self._saved_state and self._bcast_object is not None:
            synced = self._bcast_object(self._fields())
            for name, value in synced.items():
                setattr(self, name, value)
            self.save()


def _reform(reset_limit, resets):
    if reset_limit is not None and resets > reset_limit:
        raise KoloError("elastic: %d resets exceed the limit of %d" % (resets, reset_limit))
    try:
        _runtime.shutdown()
    except KoloError:
        pass  # the session is broken by definition here; its teardown may report that too
    _runtime.init()


def run_fn(func, reset=_reform, reset_limit=None):
    """Wraps `func(state, *args, **kwargs)`: on a peer failure the state is restored to its
    last commit, the job re-forms without the failed ranks, and `func` runs again."""

    @functools.wraps(func)
    def wrapper(state, *args, **kwargs):
        resets = 0
        while True:
            state.sync()
            try:
                return func(state, *args, **kwargs)
            except RECOVERABLE:
                state.restore()
            except HostsUpdatedInterrupt:
                pass  # committed just now: nothing to restore
            resets += 1
            reset(reset_limit, resets)
            state.on_reset()

    return wrapper
