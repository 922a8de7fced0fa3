"""horovod.torch's reduce-op constants and the resolution of its `average=` / `op=` pair.

Thread: any.
"""

import warnings

from ..ops import Adasum, Average, Max, Min, Product, Sum  # noqa: F401


def resolve_op(average, op):
    """The op of a call given horovod.torch's `average` (deprecated) and `op`, with Horovod's
    ValueError when both are given and its DeprecationWarning for `average`."""
    if op is not None and average is not None:
        raise ValueError("The op parameter supersedes average. Please provide only one of "
                         "them. (Kolo: got op=%r and average=%r)" % (op, average))
    if op is None and average is not None:
        warnings.warn("Parameter `average` has been replaced with `op` and will be removed in "
                      "v1.0", DeprecationWarning, stacklevel=3)
    if op is None:
        op = Average if average is None or average else Sum
    if op not in (Sum, Average, Min, Max, Product, Adasum):
        raise ValueError("unknown reduce op %r" % (op,))
    return op
