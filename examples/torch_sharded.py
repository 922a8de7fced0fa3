"""Sharded data-parallel training with Kolo's ShardedOptimizer (ZeRO-1 or ZeRO-2).

    build/bin/kolorun -np 2 -x PYTHONPATH=build/python /usr/bin/python3 examples/torch_sharded.py

Each rank trains an MLP on its own random batches with Adam wrapped in ShardedOptimizer, so it
keeps only its 1/n slice of Adam's state. The script prints, per rank, the bytes of optimizer
state it holds against what the unsharded Adam holds on every rank, and checks that the
parameters stay identical on every rank and match a DistributedOptimizer run on the same data.
It exits non-zero if any of that does not hold.
"""

import argparse
import sys

import torch

import kolo.torch as hvd


def make_model(width, depth):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(32, width), torch.nn.ReLU()]
    for _ in range(depth):
        layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))


def state_bytes(state, min_dim=0):
    """Bytes of the tensors in an optimizer's state (min_dim=1: leave out 0-d ones, such as
    Adam's step count, which every shard keeps whole)."""
    return sum(v.numel() * v.element_size() for s in state.values() for v in s.values()
               if torch.is_tensor(v) and v.dim() >= min_dim)


def train(model, opt, steps, batch):
    g = torch.Generator().manual_seed(100 + hvd.rank())
    for _ in range(steps):
        x, y = torch.randn(batch, 32, generator=g), torch.randint(0, 10, (batch,), generator=g)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return loss.item()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stage", type=int, default=1, choices=(1, 2))
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--width", type=int, default=255, help="odd widths split unevenly")
    p.add_argument("--depth", type=int, default=3)
    args = p.parse_args()
    hvd.init()
    rank, size = hvd.rank(), hvd.size()

    model = make_model(args.width, args.depth)
    opt = hvd.ShardedOptimizer(torch.optim.Adam(model.parameters(), lr=1e-3),
                               named_parameters=model.named_parameters(), stage=args.stage)
    loss = train(model, opt, args.steps, args.batch)

    ref_model = make_model(args.width, args.depth)
    ref = hvd.DistributedOptimizer(torch.optim.Adam(ref_model.parameters(), lr=1e-3),
                                   named_parameters=ref_model.named_parameters())
    train(ref_model, ref, args.steps, args.batch)

    sharded, unsharded = state_bytes(opt._local.state), state_bytes(ref.state)
    params = sum(p.numel() for p in model.parameters())
    print("rank %d/%d: stage %d, %d parameters, loss %.4f; optimizer state %d bytes sharded, "
          "%d bytes unsharded (%.3f of it; 1/n = %.3f)"
          % (rank, size, args.stage, params, loss, sharded, unsharded, sharded / unsharded,
             1.0 / size), flush=True)

    failures = []
    # Each rank's slice is 1/n of every bucket rounded up: at most one element per bucket over.
    per_element, ref_per_element = state_bytes(opt._local.state, 1), state_bytes(ref.state, 1)
    limit = ref_per_element / size + 2 * 4 * len(opt._buckets)
    if not ref_per_element / size <= per_element <= limit:
        failures.append("per-element state %d bytes is not 1/%d of %d"
                        % (per_element, size, ref_per_element))
    flat = torch.cat([q.detach().reshape(-1) for q in model.parameters()])
    ref_flat = torch.cat([q.detach().reshape(-1) for q in ref_model.parameters()])
    everyone = hvd.allgather(flat.unsqueeze(0), name="example.params")
    if not all(torch.equal(everyone[0], everyone[r]) for r in range(size)):
        failures.append("ranks hold different parameters")
    if not torch.allclose(flat, ref_flat, rtol=1e-5, atol=1e-6):
        failures.append("parameters differ from DistributedOptimizer's by %g"
                        % (flat - ref_flat).abs().max().item())
    for f in failures:
        print("rank %d: FAILED: %s" % (rank, f), file=sys.stderr)
    hvd.shutdown()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
