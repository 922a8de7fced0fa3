"""The flat layout behind ShardedOptimizer: parameters packed into buckets, each split across
the ranks of a process set.

Parameters are taken in backward order (the reverse of their order in the optimizer, which is
roughly the order autograd produces their gradients) and packed into buckets of at most
`cap_bytes`; a bucket holds parameters of one param group and one dtype only, and one
parameter never spans two buckets (a parameter larger than the cap gets a bucket of its own).
Each bucket is one flat buffer padded with zeros to a multiple of the set's size n, so
reducescatter splits it into n equal slices: rank r owns elements [r*k, (r+1)*k) of every
bucket, k = padded / n. A rank's shard is therefore its slice of every bucket, which keeps the
split within one element per bucket of 1/n whatever the parameter sizes are.
"""

import torch


class Bucket:
    """One flat buffer: its parameters in packing order, where each starts, and this rank's
    slice [lo, hi) of the padded length."""

    def __init__(self, index, group_index, dtype, params, size, rank):
        self.index = index
        self.group_index = group_index
        self.dtype = dtype
        self.params = params
        self.offsets = []
        total = 0
        for p in params:
            self.offsets.append(total)
            total += p.numel()
        self.numel = total
        self.padded = -(-total // size) * size
        self.shard_numel = self.padded // size
        self.lo = rank * self.shard_numel
        self.hi = self.lo + self.shard_numel

    def segments(self):
        """(param, start in param, start in shard, length) of each parameter piece that lies
        in this rank's slice."""
        out = []
        for p, off in zip(self.params, self.offsets):
            start, end = max(off, self.lo), min(off + p.numel(), self.hi)
            if start < end:
                out.append((p, start - off, start - self.lo, end - start))
        return out

    def flatten(self, tensors, into=None):
        """The padded flat buffer of `tensors` (one per parameter, each shaped like it),
        written into `into` (a buffer this method filled before: its padding is still zero)
        when given."""
        flat = torch.zeros(self.padded, dtype=self.dtype) if into is None else into
        for t, off in zip(tensors, self.offsets):
            flat[off:off + t.numel()].copy_(t.reshape(-1))
        return flat

    def shard_of(self, tensors):
        """This rank's slice of the flat buffer of `tensors`, built from the pieces in it."""
        shard = torch.zeros(self.shard_numel, dtype=self.dtype)
        for p, start, at, length in self._indexed_segments(tensors):
            shard[at:at + length].copy_(p.reshape(-1)[start:start + length])
        return shard

    def _indexed_segments(self, tensors):
        by_param = dict(zip(map(id, self.params), tensors))
        return [(by_param[id(p)], start, at, length) for p, start, at, length in self.segments()]

    def unflatten(self, flat):
        """Views of the padded flat buffer `flat`, one per parameter, shaped like it."""
        return [flat[off:off + p.numel()].view_as(p) for p, off in zip(self.params, self.offsets)]


def build_buckets(param_groups, cap_bytes, size, rank):
    """The buckets of every trainable parameter of `param_groups`, in backward order."""
    order = [(gi, p) for gi, group in enumerate(param_groups) for p in group["params"]
             if p.requires_grad]
    buckets, open_buckets = [], {}
    for gi, p in reversed(order):
        if p.is_sparse:
            raise ValueError("ShardedOptimizer takes dense parameters only")
        key = (gi, p.dtype)
        current = open_buckets.get(key)
        nbytes = p.numel() * p.element_size()
        if current is not None and current[1] + nbytes > cap_bytes:
            current = None
        if current is None:
            current = [[], 0]
            open_buckets[key] = current
            buckets.append((gi, p.dtype, current))
        current[0].append(p)
        current[1] += nbytes
    return [Bucket(i, gi, dtype, entry[0], size, rank)
            for i, (gi, dtype, entry) in enumerate(buckets)]
