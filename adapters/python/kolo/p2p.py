"""Point-to-point sends and receives over NumPy arrays and DLPack objects.

    if kolo.rank() == 0:
        kolo.send(np.arange(4, dtype=np.float32), dst=1, tag=7)
    elif kolo.rank() == 1:
        out = np.empty(4, np.float32)
        kolo.recv(out, src=0, tag=7)

Not collective: only the two ranks take part, and the other ranks' collectives go on
meanwhile. Ranks are ranks of `process_set` (the world by default); tags are 0 .. 2**31-1;
messages of one (peer, tag) match in posting order. A receive whose dtype or element count
differs from the send raises KoloMismatchError on both ranks, naming both sides. isend/irecv
return integer handles for kolo.poll() and kolo.synchronize(); the arrays stay referenced until
synchronize(). Host memory only: CUDA DLPack tensors raise KoloUnsupportedError.
"""

import numpy as np

from . import _runtime, dlpack
from .errors import KoloInvalidArgumentError, KoloUnsupportedError
from .numpy_ops import _in_place_ref, _numpy_ref
from .process_sets import global_process_set, set_id


def _host_only(ref, kind):
    if ref.device >= 0:
        raise KoloUnsupportedError(
            "%s of a CUDA DLPack tensor: point-to-point carries host memory only (use "
            "kolo.torch.%s, which stages CUDA tensors through host memory)" % (kind, kind),
            "KOLO_INVALID_ARGUMENT")
    return ref


def isend(array, dst, tag=0, process_set=global_process_set):
    """Starts sending `array` to rank `dst` of `process_set`; returns a handle."""
    if type(array) is not np.ndarray and dlpack.is_dlpack(array):
        ref = _host_only(dlpack.describe(array, "send")[0], "send")
    elif isinstance(array, np.ndarray):
        ref = _numpy_ref(array, "send")[0]
    else:
        raise KoloInvalidArgumentError(
            "send takes a NumPy array or a DLPack object, not a %s" % type(array).__name__,
            "KOLO_INVALID_ARGUMENT")
    return _runtime.submit_peer(True, ref, dst, tag, set_id(process_set))


def send(array, dst, tag=0, process_set=global_process_set):
    """Sends `array` to rank `dst`; returns once the receiver has it."""
    _runtime.synchronize(isend(array, dst, tag, process_set))


def irecv(array_out, src, tag=0, process_set=global_process_set):
    """Starts receiving into `array_out` (a C-contiguous writeable NumPy array or a host
    DLPack object, written in place) from rank `src`; synchronize() returns `array_out`."""
    if isinstance(array_out, np.ndarray) and not (array_out.flags.c_contiguous and
                                                  array_out.flags.writeable):
        raise KoloInvalidArgumentError(
            "recv writes into array_out in place: it needs a C-contiguous, writeable array",
            "KOLO_INVALID_ARGUMENT")
    ref = _host_only(_in_place_ref(array_out, "recv"), "recv")
    return _runtime.submit_peer(False, ref, src, tag, set_id(process_set),
                                finish=lambda handle: array_out)


def recv(array_out, src, tag=0, process_set=global_process_set):
    """Receives into `array_out` from rank `src` and returns it."""
    return _runtime.synchronize(irecv(array_out, src, tag, process_set))
