"""Kolo as a torch.distributed backend (torch >= 1.13), so DistributedDataParallel, dist.*
collectives and subgroups run on it:

    import kolo.torch.distributed  # registers the "kolo" backend
    torch.distributed.init_process_group("kolo")  # under kolorun: RANK, WORLD_SIZE, ... are set
    tp = torch.distributed.new_group([0, 1])       # a Kolo process set
    model = torch.nn.parallel.DistributedDataParallel(model)

Operations (CPU tensors, and CUDA tensors as kolo.torch takes them): all_reduce (SUM, AVG,
PRODUCT, MIN, MAX) and all_reduce_coalesced, broadcast, reduce, all_gather,
all_gather_into_tensor, all_gather_coalesced, gather, scatter, reduce_scatter,
reduce_scatter_tensor, all_to_all, all_to_all_single (with and without split sizes), barrier,
and the object collectives built on them (all_gather_object, broadcast_object_list,
gather_object, scatter_object_list). Each maps onto Kolo's native collectives (dist_group.py
has the table). Point-to-point (send, recv, isend, irecv, batch_isend_irecv) runs on
kolo.torch's isend/irecv (p2p.py: not negotiated, only the two ranks take part, tags matched in
order per peer); a receive from any source (src=None) and monitored_barrier raise
KoloUnsupportedError naming themselves.

Asynchronous: every op submits Kolo's asynchronous collectives and returns a Work before they
complete; wait() blocks and raises the Kolo error naming the op, is_completed() polls, and the
group timeout applies (dist_work.py). DDP's bucket allreduces so overlap backward.

Subgroups. torch 1.13's new_group() is entered by every rank, but calls the backend's creator
only on the group's members (with the group's store, group rank and size); the other ranks
get NON_GROUP_MEMBER without running any backend code. A Kolo process set, though, is
registered collectively by every rank of the job (every rank records its id, so ids agree).
So importing this module wraps torch.distributed.new_group (also as distributed_c10d's module
attribute, which new_subgroups() calls): when the group's backend is kolo, every rank first
registers the group's ranks as a new Kolo process set (kolo.add_process_set, over the whole
job, rank 0's list checked against every rank's), then calls torch's new_group, whose creator
on the members takes that set. Each group gets its own set, so groups may overlap, exclude
rank 0, or repeat the same ranks, and their op sequences stay independent. The world group
from init_process_group is Kolo's global process set. A subgroup's ProcessGroup speaks group
ranks (roots and splits in group order), as torch requires. A kolo creator called without the
wrapper (new_group captured before this import) raises KoloUnsupportedError on the members.

Thread: the caller's (DDP calls from autograd threads); ranks issue each group's ops in the
same order, as torch.distributed requires.
"""

import datetime
import functools

import torch
import torch.distributed as dist
from torch.distributed import distributed_c10d as c10d

from .. import _runtime
from ..errors import KoloUnsupportedError
from ..process_sets import ProcessSet, add_process_set, global_process_set
from .dist_group import ProcessGroupKolo
from .dist_work import _create_work_from_future

_DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)
# The Kolo process set registered for the new_group() call under way on this rank.
_pending_set = None


def _create(store, rank, size, timeout=_DEFAULT_TIMEOUT):
    """The backend's creator: the world group joins the Kolo job (if not yet); a subgroup
    takes the process set new_group() registered just before."""
    global _pending_set
    if _create_work_from_future is None:
        raise KoloUnsupportedError("the kolo torch.distributed backend needs torch >= 1.13 "
                                   "(torch %s)" % torch.__version__, "KOLO_UNAVAILABLE")
    _runtime.init()
    seconds = timeout.total_seconds() if timeout else _DEFAULT_TIMEOUT.total_seconds()
    process_set, _pending_set = _pending_set, None
    if process_set is None:
        if dist.is_initialized():
            raise KoloUnsupportedError(
                "a kolo subgroup was created without kolo.torch.distributed's new_group "
                "(torch.distributed.new_group was looked up before `import "
                "kolo.torch.distributed`); call torch.distributed.new_group after importing "
                "it", "KOLO_INVALID_USAGE")
        if (rank, size) != (_runtime.rank(), _runtime.size()):
            raise KoloUnsupportedError(
                "torch.distributed asks for rank %d of %d, but Kolo is rank %d of %d; the "
                "kolo backend's default group is the whole Kolo job" % (
                    rank, size, _runtime.rank(), _runtime.size()), "KOLO_INVALID_USAGE")
        return ProcessGroupKolo(rank, size, global_process_set, seconds)
    if (rank, size) != (process_set.rank(), process_set.size()):
        raise KoloUnsupportedError(
            "torch.distributed asks for group rank %d of %d, but Kolo's process set %r puts "
            "this rank at %d of %d" % (rank, size, process_set.ranks, process_set.rank(),
                                       process_set.size()), "KOLO_INTERNAL")
    return ProcessGroupKolo(rank, size, process_set, seconds)


def _is_kolo(backend):
    if backend is None:
        backend = dist.get_backend()
    return str(backend).lower() == "kolo"


def _wrap_new_group(torch_new_group):
    @functools.wraps(torch_new_group)
    def new_group(ranks=None, timeout=c10d.default_pg_timeout, backend=None, pg_options=None):
        global _pending_set
        if not dist.is_initialized() or not _is_kolo(backend):
            return torch_new_group(ranks, timeout, backend, pg_options)
        members = list(range(dist.get_world_size())) if ranks is None else sorted(ranks)
        if members and (members[0] < 0 or members[-1] >= dist.get_world_size()):
            # torch's own check raises the same on every rank; no set is registered.
            return torch_new_group(ranks, timeout, backend, pg_options)
        _runtime.init()
        if (dist.get_rank(), dist.get_world_size()) != (_runtime.rank(), _runtime.size()):
            raise KoloUnsupportedError(
                "new_group(backend='kolo'): torch.distributed's world (rank %d of %d) is not "
                "the Kolo job (rank %d of %d)" % (dist.get_rank(), dist.get_world_size(),
                                                  _runtime.rank(), _runtime.size()),
                "KOLO_INVALID_USAGE")
        # Collective over every rank of the job, members or not (see the module docstring).
        process_set = add_process_set(ProcessSet(members))
        _pending_set = process_set if process_set.included() else None
        try:
            return torch_new_group(ranks, timeout, backend, pg_options)
        finally:
            _pending_set = None
    new_group.kolo_wrapper = True
    return new_group


if "kolo" not in [b.lower() for b in getattr(dist.Backend, "_plugins", {})] and \
        not hasattr(dist.Backend, "KOLO"):
    dist.Backend.register_backend("kolo", _create)

if not getattr(c10d.new_group, "kolo_wrapper", False):
    c10d.new_group = _wrap_new_group(c10d.new_group)
    dist.new_group = c10d.new_group
