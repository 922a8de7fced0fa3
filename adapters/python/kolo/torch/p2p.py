"""Point-to-point sends and receives of torch tensors (what torch.distributed's send, recv,
isend and irecv do), over Kolo's runtime.

    if kolo.torch.rank() == 0:
        kolo.torch.send(t, dst=1, tag=3)
    else:
        kolo.torch.recv(t, src=0, tag=3)      # written in place

Not collective: only the two ranks take part. Ranks are ranks of `process_set` (the world by
default), tags 0 .. 2**31-1, messages of one (peer, tag) match in posting order. isend/irecv
return handles that kolo.torch.poll() and kolo.torch.synchronize() take; synchronize() of a
receive returns its tensor. A receive whose dtype or element count differs from the send raises
KoloMismatchError on both ranks. CUDA and non-contiguous tensors are staged through contiguous
host memory (the receive copies back into the caller's tensor when it completes).

Thread: any Python thread.
"""

import torch

from .. import _runtime
from ..process_sets import global_process_set, set_id
from .handles import synchronize
from .tensors import check, staged, tensor_ref


def isend(tensor, dst, tag=0, process_set=global_process_set):
    """Starts sending `tensor` to rank `dst` of `process_set`; returns a handle."""
    t = staged(tensor, "send")
    return _runtime.submit_peer(True, tensor_ref(t), dst, tag, set_id(process_set))


def send(tensor, dst, tag=0, process_set=global_process_set):
    """Sends `tensor` to rank `dst`; returns once the receiver has it."""
    synchronize(isend(tensor, dst, tag, process_set))


def irecv(tensor, src, tag=0, process_set=global_process_set):
    """Starts receiving into `tensor` from rank `src`; returns a handle whose synchronize()
    returns `tensor`."""
    check(tensor, "recv")
    direct = tensor.is_cpu and tensor.is_contiguous()
    # detach() shares the memory: a receive writes the data, as torch.distributed.recv does.
    landing = tensor.detach() if direct else tensor.detach().to("cpu").contiguous()
    raw = landing.view(torch.uint8) if landing.dtype == torch.bool else landing

    def finish(handle):
        if not direct:
            with torch.no_grad():
                tensor.copy_(landing)
        return tensor
    return _runtime.submit_peer(False, tensor_ref(raw), src, tag, set_id(process_set),
                                finish=finish)


def recv(tensor, src, tag=0, process_set=global_process_set):
    """Receives into `tensor` from rank `src` and returns it."""
    return synchronize(irecv(tensor, src, tag, process_set))
