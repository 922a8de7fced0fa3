"""2-way tensor parallelism x 2-way data parallelism through torch.distributed on Kolo.

    kolorun -np 4 -- /usr/bin/python3 examples/torch_tensor_parallel.py

World rank r holds tensor-parallel shard r % 2 of data-parallel replica r // 2. Four subgroups
are created with torch.distributed.new_group on the kolo backend (each a Kolo process set):
tensor-parallel groups {0, 1} and {2, 3}, data-parallel groups {0, 2} and {1, 3}.

The MLP  x -> Linear(D, H) -> tanh -> Linear(H, H) -> tanh -> Linear(H, O)  is split as in
Megatron-LM: the first layer is column-parallel (each shard holds half the output features),
the second row-parallel (half the input features; partial outputs summed), the third
column-parallel again with its output gathered. Three autograd-correct operators move data
inside the tensor-parallel group:
  f (copy_to):     forward identity,             backward all_reduce of the gradient
  g (reduce_from): forward all_reduce,           backward identity
  gather:          forward all_gather (columns), backward this shard's columns of the gradient
Each replica trains on its half of every global batch; after backward, gradients are averaged
in the data-parallel group (all_reduce AVG).

The run checks itself: every rank also trains the unsplit MLP on the whole batch in one
process, from the same initial weights, and compares its shards with the matching slices.
Tolerance: max |tensor-parallel - reference| <= 1e-5 * max |reference| per parameter (float32;
the split sums add in a different order). Exits non-zero on a mismatch, on every rank.
"""

import argparse
import sys

import torch
import torch.distributed as dist

import kolo.torch.distributed  # noqa: F401 (registers the "kolo" backend)

TP = 2
DP = 2
TOLERANCE = 1e-5


class CopyToTP(torch.autograd.Function):
    """f: the input enters every shard unchanged; the gradients of the shards are summed."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


class ReduceFromTP(torch.autograd.Function):
    """g: the shards' partial outputs are summed; the gradient goes back unchanged."""

    @staticmethod
    def forward(ctx, x, group):
        out = x.contiguous().clone()
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class GatherFromTP(torch.autograd.Function):
    """The shards' output columns concatenated; backward keeps this shard's columns."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group, ctx.width = group, x.shape[-1]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
        dist.all_gather(parts, x.contiguous(), group=group)
        return torch.cat(parts, dim=-1)

    @staticmethod
    def backward(ctx, grad):
        start = dist.get_rank(ctx.group) * ctx.width
        return grad[..., start:start + ctx.width].contiguous(), None


def full_mlp(sizes, seed):
    torch.manual_seed(seed)
    d, h, o = sizes
    return torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.Tanh(), torch.nn.Linear(h, h),
                               torch.nn.Tanh(), torch.nn.Linear(h, o))


class TensorParallelMLP(torch.nn.Module):
    """This rank's shards of `full` (column, row, column with gathered output)."""

    def __init__(self, full, shard, group):
        super().__init__()
        self.group = group
        l1, l2, l3 = full[0], full[2], full[4]
        rows1, cols2, rows3 = (slice(shard * n // TP, (shard + 1) * n // TP)
                               for n in (l1.out_features, l2.in_features, l3.out_features))
        p = torch.nn.Parameter
        self.w1, self.b1 = p(l1.weight[rows1].clone()), p(l1.bias[rows1].clone())
        self.w2, self.b2 = p(l2.weight[:, cols2].clone()), p(l2.bias.clone())
        self.w3, self.b3 = p(l3.weight[rows3].clone()), p(l3.bias[rows3].clone())
        self.slices = {"w1": (rows1,), "b1": (rows1,), "w2": (slice(None), cols2),
                       "b2": (slice(None),), "w3": (rows3,), "b3": (rows3,)}

    def forward(self, x):
        h = torch.tanh(torch.nn.functional.linear(CopyToTP.apply(x, self.group), self.w1,
                                                  self.b1))
        h = torch.tanh(ReduceFromTP.apply(h @ self.w2.t(), self.group) + self.b2)
        out = torch.nn.functional.linear(CopyToTP.apply(h, self.group), self.w3, self.b3)
        return GatherFromTP.apply(out, self.group)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16, help="global batch size")
    parser.add_argument("--sizes", type=int, nargs=3, default=[12, 16, 6], metavar=("D", "H", "O"))
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()

    dist.init_process_group("kolo")
    rank, size = dist.get_rank(), dist.get_world_size()
    if size != TP * DP:
        sys.exit("torch_tensor_parallel.py runs on %d ranks (kolorun -np %d), not %d"
                 % (TP * DP, TP * DP, size))
    # Every rank creates every group, in the same order.
    tp_groups = [dist.new_group([d * TP + t for t in range(TP)]) for d in range(DP)]
    dp_groups = [dist.new_group([d * TP + t for d in range(DP)]) for t in range(TP)]
    replica, shard = divmod(rank, TP)
    tp_group, dp_group = tp_groups[replica], dp_groups[shard]

    reference = full_mlp(args.sizes, seed=1234)
    model = TensorParallelMLP(reference, shard, tp_group)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=args.lr)
    data = torch.Generator().manual_seed(99)
    local = args.batch // DP
    for step in range(args.steps):
        x = torch.randn(args.batch, args.sizes[0], generator=data)
        y = torch.randn(args.batch, args.sizes[2], generator=data)
        mine = slice(replica * local, (replica + 1) * local)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x[mine]), y[mine])
        loss.backward()
        for p in model.parameters():
            dist.all_reduce(p.grad, op=dist.ReduceOp.AVG, group=dp_group)
        opt.step()
        ref_opt.zero_grad()
        ref_loss = torch.nn.functional.mse_loss(reference(x), y)
        ref_loss.backward()
        ref_opt.step()
        if rank == 0:
            print("step %d: replica 0 loss %.6f, one-process loss %.6f"
                  % (step, loss.item(), ref_loss.item()))

    full = dict(zip(["w1", "b1", "w2", "b2", "w3", "b3"],
                    [t for layer in (reference[0], reference[2], reference[4])
                     for t in (layer.weight, layer.bias)]))
    worst = torch.zeros(1)
    for name, index in model.slices.items():
        want = full[name].detach()[index]
        err = (getattr(model, name).detach() - want).abs().max() / want.abs().max()
        worst = torch.maximum(worst, err.reshape(1))
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)  # every rank reaches the same verdict
    ok = worst.item() <= TOLERANCE
    if rank == 0:
        print("tensor-parallel x data-parallel parameters vs one process: max relative "
              "difference %.3g (tolerance %g): %s" % (worst.item(), TOLERANCE,
                                                       "OK" if ok else "MISMATCH"))
    dist.destroy_process_group()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
