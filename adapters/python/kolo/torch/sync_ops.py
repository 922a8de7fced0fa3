"""join and barrier with horovod.torch's names (re-exported by mpi_ops).

Thread: any Python thread; waiting releases the GIL.
"""
from .. import _runtime
from ..process_sets import global_process_set, set_id


def join(device=-1, process_set=global_process_set):
    """Marks this rank as out of data: until every rank joined, it takes part in the others'
    allreduces with zeros. Returns the rank that joined last."""
    return _runtime.synchronize(_runtime.submit_join(set_id(process_set)))


def barrier(process_set=global_process_set):
    """Returns once every rank of the set reached it."""
    pset = set_id(process_set)
    _runtime.synchronize(_runtime.submit_barrier(_runtime.auto_name("barrier", pset), pset))
