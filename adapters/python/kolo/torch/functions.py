"""Whole-model helpers: broadcasting parameters, optimizer state and Python objects.

Objects travel pickled: broadcast_object sends the byte length, then the bytes;
allgather_object gathers every rank's bytes in one variable-length allgather.
"""

import io
import pickle

import torch

from .. import _runtime
from ..process_sets import global_process_set
from . import mpi_ops
from .optimizer import _DistributedOptimizer


def broadcast_parameters(params, root_rank, prefix=None):
    """Overwrites every tensor of a state_dict or of (name, tensor) pairs with the root's.

    All broadcasts are submitted before any is awaited, so they are negotiated and fused
    together rather than paid for one round trip each."""
    if isinstance(params, dict):
        items = sorted(params.items())
    elif isinstance(params, list) or hasattr(params, "__iter__"):
        # (name, tensor) pairs as named_parameters() yields, or bare tensors as parameters()
        # does; a bare tensor is named by its position, the same on every rank.
        items = [p if isinstance(p, tuple) else ("#%d" % i, p) for i, p in enumerate(params)]
    else:
        raise ValueError("invalid params of type %s" % type(params).__name__)
    handles = []
    for name, p in items:
        if torch.is_tensor(p):
            tensor = p.data if isinstance(p, torch.nn.Parameter) else p
            full = "%s%s" % (prefix or "", name)
            handles.append(mpi_ops.broadcast_async_(tensor, root_rank, name="param." + full))
    for h in handles:
        mpi_ops.synchronize(h)


def broadcast_optimizer_state(optimizer, root_rank, model=None, prefix="optimizer"):
    """Makes every rank's optimizer state (hyper-parameters and per-parameter buffers) the
    root's, as Horovod's does: a rank whose optimizer has no state yet first gives every
    parameter that requires a gradient a zero gradient and steps once (the wrapped optimizer's
    step, without reducing, for a DistributedOptimizer) to create it; if the state is still
    empty the optimizer is stateless and nothing is broadcast. `model` names the sparse
    embeddings whose SGD gradients are made sparse, as with Horovod. The state travels as one
    pickled object, so tensors and scalars (options such as lr set either way) arrive alike."""
    if isinstance(optimizer, torch.optim.LBFGS):
        raise ValueError("cannot broadcast torch.optim.LBFGS state (Kolo: its nested state "
                         "has no per-parameter form)")
    if hasattr(optimizer, "_broadcast_state"):
        # A ShardedOptimizer: each rank's state is its own shard; only options travel.
        return optimizer._broadcast_state(root_rank)
    if not optimizer.state_dict()["state"]:
        _initialize_state(optimizer, model)
        if not optimizer.state_dict()["state"]:
            return
    state = broadcast_object(optimizer.state_dict(), root_rank, name=prefix + ".state")
    if _runtime.rank() != root_rank:
        optimizer.load_state_dict(state)


def _initialize_state(optimizer, model):
    """Horovod's state initialization: zero gradients, then one local step."""
    sparse = set()
    if model is not None:
        for m in model.modules():
            if isinstance(m, torch.nn.Embedding) and m.sparse:
                sparse.update(id(p) for p in m.parameters())
    for group in optimizer.param_groups:
        for p in group["params"]:
            if not p.requires_grad:
                continue
            p.grad = torch.zeros_like(p.data)
            if isinstance(optimizer, torch.optim.SparseAdam) or (
                    isinstance(optimizer, torch.optim.SGD) and id(p) in sparse):
                p.grad = p.grad.to_sparse()
    # step itself may be wrapped by torch (its profiling hook), so look at synchronize.
    if getattr(type(optimizer), "synchronize", None) is _DistributedOptimizer.synchronize:
        # Its step() would reduce the gradients, which only works if every rank calls it.
        super(type(optimizer), optimizer).step()
    else:
        optimizer.step()


def _pickled(obj):
    buf = io.BytesIO()
    pickle.dump(obj, buf)
    return torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8) \
        if hasattr(torch, "frombuffer") else torch.ByteTensor(list(buf.getvalue()))


def broadcast_object(obj, root_rank=0, name=None, process_set=global_process_set):
    """The root's `obj` on every rank (pickled; any picklable object)."""
    name = name or type(obj).__name__
    if _runtime.rank() == root_rank:
        payload = _pickled(obj)
        length = torch.tensor([payload.numel()], dtype=torch.int64)
    else:
        payload = None
        length = torch.zeros(1, dtype=torch.int64)
    mpi_ops.broadcast_(length, root_rank, name=name + ".size", process_set=process_set)
    if payload is None:
        payload = torch.zeros(int(length.item()), dtype=torch.uint8)
    mpi_ops.broadcast_(payload, root_rank, name=name + ".bytes", process_set=process_set)
    return pickle.loads(payload.numpy().tobytes())


def allgather_object(obj, name=None, process_set=global_process_set):
    """A list of every rank's `obj`, in rank order."""
    name = name or type(obj).__name__
    payload = _pickled(obj)
    sizes = mpi_ops.allgather(torch.tensor([payload.numel()], dtype=torch.int64),
                              name=name + ".sizes", process_set=process_set).tolist()
    gathered = mpi_ops.allgather(payload, name=name + ".bytes", process_set=process_set)
    data = gathered.numpy().tobytes()
    out, offset = [], 0
    for n in sizes:
        out.append(pickle.loads(data[offset:offset + n]))
        offset += n
    return out
