"""Process sets: subsets of ranks that run collectives among themselves.

`global_process_set` (id 0) holds every rank. Registering and removing a set is collective
over all ranks and must happen in the same order everywhere.
"""

from . import _runtime
from .errors import KoloUnsupportedError


class ProcessSet:
    """A set of ranks; `process_set_id` is None until it is registered. Horovod's argument
    name (`ranks_or_comm`) is kept; an MPI communicator is not supported (KoloError)."""

    def __init__(self, ranks_or_comm=None):
        if ranks_or_comm is not None and not hasattr(ranks_or_comm, "__iter__"):
            raise KoloUnsupportedError(
                "ProcessSet(%r): process sets from MPI communicators are not supported by "
                "Kolo; pass a list of ranks" % (ranks_or_comm,), "KOLO_INVALID_ARGUMENT")
        self.ranks = None if ranks_or_comm is None else sorted(int(r) for r in ranks_or_comm)
        self.process_set_id = None
        self.mpi_comm = None

    def _resolved_ranks(self):
        if self.ranks is None:
            return list(range(_runtime.size()))
        return self.ranks

    def size(self):
        return len(self._resolved_ranks())

    def rank(self):
        """This process's rank within the set, or -1 when it is not a member."""
        ranks = self._resolved_ranks()
        me = _runtime.rank()
        return ranks.index(me) if me in ranks else -1

    def included(self):
        return _runtime.rank() in self._resolved_ranks()

    def __repr__(self):
        return "ProcessSet(process_set_id=%s, ranks=%s)" % (self.process_set_id, self.ranks)


global_process_set = ProcessSet()
global_process_set.process_set_id = 0


def set_id(process_set):
    """The registered id of a ProcessSet (or a plain id); raises if it is not registered."""
    if process_set is None:
        return 0
    if isinstance(process_set, int):
        return process_set
    if process_set.process_set_id is None:
        raise ValueError("%r is not registered: call add_process_set() on every rank first"
                         % (process_set,))
    return process_set.process_set_id


def add_process_set(process_set):
    """Collective: registers a ProcessSet (or a list of ranks) and returns the ProcessSet."""
    if not isinstance(process_set, ProcessSet):
        process_set = ProcessSet(process_set)
    if process_set.process_set_id is not None:
        raise ValueError("%r is already registered" % (process_set,))
    process_set.process_set_id = _runtime.add_process_set(process_set.ranks)
    return process_set


def remove_process_set(process_set):
    """Collective: unregisters a set; returns True when it was registered."""
    pid = process_set.process_set_id if isinstance(process_set, ProcessSet) else process_set
    if pid is None or pid == 0:
        return False
    _runtime.remove_process_set(pid)
    if isinstance(process_set, ProcessSet):
        process_set.process_set_id = None
    return True
