"""ShardedOptimizer's state: the per-element check, consolidation into the wrapped optimizer's
own state_dict format, this rank's sharded form, and loading either.

A local state value is per element when it is a tensor shaped like its shard (momentum,
exp_avg, ...): consolidation allgathers it per bucket and cuts the flat result back into one
tensor per parameter. A 0-d tensor, a number or None (Adam's step, SGD's momentum_buffer
without momentum) is per parameter and the same on every rank, so each parameter of the
bucket gets a copy of it.
"""

import torch

from ..errors import KoloUnsupportedError
from .handles import synchronize as wait
from .mpi_ops import allgather_async


def _elementwise(value, like):
    return torch.is_tensor(value) and value.dim() > 0 and value.shape == like.shape


def _scalar(value):
    return (value is None or (torch.is_tensor(value) and value.dim() == 0)
            or isinstance(value, (int, float, bool)))


def check_elementwise(local, shards):
    """Raises KoloUnsupportedError, naming the optimizer and the state, if the wrapped
    optimizer keeps state that is neither per element of its shard nor a per-parameter
    scalar, which a sharded update cannot reproduce."""
    name = type(local).__name__
    known = {id(s) for s in shards}
    for key in local.state:
        if id(key) not in known:
            raise KoloUnsupportedError(
                "ShardedOptimizer cannot shard %s: it keeps state that belongs to no single "
                "parameter, and ShardedOptimizer needs state per parameter element" % name,
                "KOLO_INVALID_ARGUMENT")
    for shard in shards:
        for key, value in local.state.get(shard, {}).items():
            if not (_elementwise(value, shard) or _scalar(value)):
                raise KoloUnsupportedError(
                    "ShardedOptimizer cannot shard %s: its state '%s' (%s) is neither one value "
                    "per parameter element nor a scalar" % (name, key, _describe(value)),
                    "KOLO_INVALID_ARGUMENT")


def _describe(value):
    if torch.is_tensor(value):
        return "a tensor of shape %s" % (list(value.shape),)
    return "a %s" % type(value).__name__


def _param_index(opt):
    params = [p for group in opt.param_groups for p in group["params"]]
    return params, {id(p): i for i, p in enumerate(params)}


def _groups_with_indices(opt, index):
    return [dict({k: v for k, v in g.items() if k != "params"},
                 params=[index[id(p)] for p in g["params"]]) for g in opt.param_groups]


def consolidate(opt, to):
    """The wrapped optimizer's state_dict() of the whole state on rank `to` (None elsewhere).
    Collective: every rank allgathers every per-element state of every bucket."""
    pending = []
    for b, shard in zip(opt._buckets, opt._shards):
        state = opt._local.state.get(shard, {})
        for key in sorted(k for k, v in state.items() if _elementwise(v, shard)):
            handle = allgather_async(state[key].contiguous(), name="%s.state.%d.%s"
                                     % (opt._prefix, b.index, key),
                                     process_set=opt._process_set)
            pending.append((b, key, handle))
    gathered = {(b.index, key): wait(handle) for b, key, handle in pending}
    if opt._process_set.rank() != to:
        return None
    _, index = _param_index(opt)
    out = {}
    for b, shard in zip(opt._buckets, opt._shards):
        state = opt._local.state.get(shard, {})
        if not state:
            continue
        for p, off in zip(b.params, b.offsets):
            entry = {}
            for key, value in state.items():
                if (b.index, key) in gathered:
                    flat = gathered[(b.index, key)]
                    entry[key] = flat[off:off + p.numel()].view_as(p).clone()
                else:
                    entry[key] = value.clone() if torch.is_tensor(value) else value
            out[index[id(p)]] = entry
    return {"state": dict(sorted(out.items())), "param_groups": _groups_with_indices(opt, index)}


def _layout(opt):
    return [(b.group_index, str(b.dtype), b.numel, b.padded) for b in opt._buckets]


def sharded(opt):
    """This rank's shard of the state, tagged with what must match to load it back."""
    _, index = _param_index(opt)
    state = {}
    for b, shard in zip(opt._buckets, opt._shards):
        entry = opt._local.state.get(shard)
        if entry:
            state[b.index] = {k: v.clone() if torch.is_tensor(v) else v
                              for k, v in entry.items()}
    return {"kolo_sharded": {"rank": opt._process_set.rank(), "size": opt._process_set.size(),
                             "layout": _layout(opt)},
            "state": state, "param_groups": _groups_with_indices(opt, index)}


def load(opt, state_dict):
    """Loads a consolidated or a sharded state dict into `opt` (this rank's shard only)."""
    groups = state_dict["param_groups"]
    if len(groups) != len(opt.param_groups):
        raise ValueError("the state dict has %d param groups, the optimizer %d"
                         % (len(groups), len(opt.param_groups)))
    for saved, exposed in zip(groups, opt.param_groups):
        if len(saved["params"]) != len(exposed["params"]):
            raise ValueError("a param group of the state dict has %d parameters, the "
                             "optimizer's %d" % (len(saved["params"]), len(exposed["params"])))
    if "kolo_sharded" in state_dict:
        _load_sharded(opt, state_dict)
    else:
        _load_consolidated(opt, state_dict)
    for saved, exposed in zip(groups, opt.param_groups):
        exposed.update({k: v for k, v in saved.items() if k != "params"})
    opt._sync_hyperparameters()
    opt._state_checked = False


def _load_sharded(opt, state_dict):
    meta = state_dict["kolo_sharded"]
    mine = {"rank": opt._process_set.rank(), "size": opt._process_set.size(),
            "layout": _layout(opt)}
    for field in ("size", "rank", "layout"):
        if _plain(meta[field]) != _plain(mine[field]):
            raise ValueError("this sharded state dict was saved with %s %r, this optimizer has "
                             "%r; load a consolidated state dict instead"
                             % (field, meta[field], mine[field]))
    opt._local.state.clear()
    for b, shard in zip(opt._buckets, opt._shards):
        entry = state_dict["state"].get(b.index)
        if entry:
            opt._local.state[shard] = {k: v.clone() if torch.is_tensor(v) else v
                                       for k, v in entry.items()}


def _plain(value):
    return [list(v) for v in value] if isinstance(value, (list, tuple)) else value


def _load_consolidated(opt, state_dict):
    params, index = _param_index(opt)
    saved = state_dict["state"]
    # A 0-d parameter cannot tell a scalar state from a per-element one; the others can, and
    # a state seen only on 0-d parameters is per element unless it is the step count.
    scalar_keys, seen = set(), set()
    for i, entry in saved.items():
        for key, value in entry.items():
            seen.add(key)
            if params[i].dim() > 0 and not _elementwise(value, params[i]):
                scalar_keys.add(key)
            if params[i].dim() == 0 and not _scalar(value):
                raise ValueError("state '%s' of parameter %d is %s, not a scalar like the "
                                 "parameter" % (key, i, _describe(value)))
    judged = {key for i, entry in saved.items() if params[i].dim() > 0 for key in entry}
    scalar_keys.update(key for key in seen - judged if key == "step")
    opt._local.state.clear()
    for b, shard in zip(opt._buckets, opt._shards):
        entries = [saved.get(index[id(p)]) for p in b.params]
        present = [e for e in entries if e]
        if not present:
            continue
        keys = sorted({k for e in present for k in e})
        local = {}
        for key in keys:
            if key in scalar_keys:
                value = next(e[key] for e in present if key in e)
                local[key] = value.clone() if torch.is_tensor(value) else value
            else:
                values = [e[key] if e and key in e else torch.zeros_like(p)
                          for p, e in zip(b.params, entries)]
                local[key] = b.shard_of(values).to(values[0].dtype)
        opt._local.state[shard] = local
