"""Completion of kolo.torch ops: poll() and synchronize() of single handles and of groups of
handles that complete as one op.

Thread: any Python thread; waiting releases the GIL.
"""

from .. import _runtime
from ..process_sets import set_id


class GroupHandle:
    """Several handles completing as one (grouped allgather and reducescatter, grouped
    allreduce over several dtypes); `combine` turns their results into the op's result."""

    def __init__(self, handles, combine=None):
        self.handles = handles
        self.combine = combine


def group_of(kind, tensors, name, process_set, check, submit):
    """The GroupHandle of a grouped op: every tensor is checked (`check(t, kind)`) before any
    is submitted, then `submit(t, member_name)` submits each as `NAME.i`."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("grouped ops need at least one tensor")
    for t in tensors:
        check(t, kind)
    base = name or _runtime.auto_name("grouped_" + kind, set_id(process_set))
    return GroupHandle([submit(t, "%s.%d" % (base, i)) for i, t in enumerate(tensors)])


def poll(handle):
    """True once the op behind `handle` finished; never blocks."""
    if isinstance(handle, GroupHandle):
        return all(_runtime.poll(h) for h in handle.handles)
    return _runtime.poll(handle)


def synchronize(handle):
    """Waits for the op and returns its output; raises KoloError if it failed. A group waits
    for (and frees) every member before raising the first member's error."""
    if not isinstance(handle, GroupHandle):
        return _runtime.synchronize(handle)
    results, error = [], None
    for h in handle.handles:
        try:
            results.append(_runtime.synchronize(h))
        except Exception as e:  # noqa: BLE001 (re-raised below, after the others are freed)
            error = error or e
    if error is not None:
        raise error
    return handle.combine(results) if handle.combine else results
