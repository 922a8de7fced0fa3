"""GPipe-style pipeline parallelism (2 stages) x data parallelism (2 replicas) through
torch.distributed on Kolo: point-to-point send/recv between the stages, gradient all_reduce in
data-parallel subgroups.

    kolorun -np 4 -- /usr/bin/python3 examples/torch_pipeline.py

World rank r is stage r % 2 of replica r // 2. Stage 0 holds  x -> Linear(D, H) -> tanh, stage
1 holds  Linear(H, H) -> tanh -> Linear(H, O)  and the loss. Each replica's share of a global
batch is cut into micro-batches: stage 0 sends each micro-batch's activations to stage 1
(dist.send), stage 1 runs forward and backward and sends the activations' gradient back
(dist.send), and stage 0 finishes its backward with it: all forwards first, then all
backwards, as GPipe. Each stage then averages its gradients with the same stage of the other
replica (dist.all_reduce AVG in the data-parallel subgroups {0, 2} and {1, 3}) and steps.

The run checks itself: every rank also trains the unsplit model on the whole batch in one
process, from the same initial weights, and compares its stage's parameters with the matching
layers. Tolerance: max |pipeline - reference| <= 1e-5 * max |reference| per parameter
(float32; micro-batch gradients add in another order). Exits non-zero on a mismatch, on every
rank. `--backend gloo --init-file F` runs the same script on torch's gloo (for the benchmark,
bench/python/pipeline_step.py); `--time` prints the median step time.
"""

import argparse
import statistics
import sys
import time

import torch
import torch.distributed as dist

import kolo.torch.distributed  # noqa: F401 (registers the "kolo" backend)

STAGES = 2
DP = 2
TOLERANCE = 1e-5


def full_model(sizes, seed):
    torch.manual_seed(seed)
    d, h, o = sizes
    return torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.Tanh(), torch.nn.Linear(h, h),
                               torch.nn.Tanh(), torch.nn.Linear(h, o))


def stage_of(full, stage):
    """Deep copies of this stage's layers (the reference keeps its own)."""
    layers = [full[0], full[1]] if stage == 0 else [full[2], full[3], full[4]]
    copy = torch.nn.Sequential(*[type(layer)(*_shape(layer)) for layer in layers])
    copy.load_state_dict(torch.nn.Sequential(*layers).state_dict())
    return copy


def _shape(layer):
    return (layer.in_features, layer.out_features) if isinstance(layer, torch.nn.Linear) else ()


def pipeline_step(model, stage, peer, x, y, micro, hidden, total):
    """One GPipe step of this stage over its replica's batch (x, y), in `micro` micro-batches;
    the loss is the sum of squared errors over `total` elements (the global batch's mean)."""
    xs, ys = x.chunk(micro), y.chunk(micro)
    if stage == 0:
        outputs = []
        for xb in xs:
            out = model(xb)
            dist.send(out.detach().contiguous(), dst=peer)
            outputs.append(out)
        for out in outputs:
            grad = torch.empty_like(out)
            dist.recv(grad, src=peer)
            out.backward(grad)
        return None
    inputs, losses = [], []
    for xb in xs:
        act = torch.empty(xb.shape[0], hidden)
        dist.recv(act, src=peer)
        act.requires_grad_()
        inputs.append(act)
        losses.append(((model(act) - ys[len(losses)]) ** 2).sum() / total)
    for act, loss in zip(inputs, losses):
        loss.backward()
        dist.send(act.grad.contiguous(), dst=peer)
    return sum(loss.item() for loss in losses)


def check(model, stage, reference, rank):
    layers = [reference[0]] if stage == 0 else [reference[2], reference[4]]
    mine = [m for m in model if isinstance(m, torch.nn.Linear)]
    worst = torch.zeros(1)
    for got, want in zip(mine, layers):
        for a, b in ((got.weight, want.weight), (got.bias, want.bias)):
            err = (a.detach() - b.detach()).abs().max() / b.detach().abs().max()
            worst = torch.maximum(worst, err.reshape(1))
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)  # every rank reaches the same verdict
    ok = worst.item() <= TOLERANCE
    if rank == 0:
        print("pipeline x data-parallel parameters vs one process: max relative difference "
              "%.3g (tolerance %g): %s" % (worst.item(), TOLERANCE, "OK" if ok else "MISMATCH"))
    return ok


def parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32, help="global batch size")
    parser.add_argument("--micro", type=int, default=4, help="micro-batches per replica")
    parser.add_argument("--sizes", type=int, nargs=3, default=[12, 16, 6], metavar=("D", "H", "O"))
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--backend", default="kolo", choices=["kolo", "gloo"])
    parser.add_argument("--init-file", help="with gloo: a shared file for init_method")
    parser.add_argument("--time", action="store_true", help="print the median step time")
    parser.add_argument("--no-check", action="store_true", help="skip the one-process reference")
    return parser.parse_args()


def main():
    args = parse()
    if args.backend == "gloo":
        import os
        dist.init_process_group("gloo", init_method="file://" + args.init_file,
                                rank=int(os.environ["KOLO_RANK"]),
                                world_size=int(os.environ["KOLO_SIZE"]))
    else:
        dist.init_process_group("kolo")
    rank, size = dist.get_rank(), dist.get_world_size()
    if size != STAGES * DP:
        sys.exit("torch_pipeline.py runs on %d ranks (kolorun -np %d), not %d"
                 % (STAGES * DP, STAGES * DP, size))
    dp_groups = [dist.new_group([d * STAGES + s for d in range(DP)]) for s in range(STAGES)]
    replica, stage = divmod(rank, STAGES)
    peer = replica * STAGES + (1 - stage)

    reference = full_model(args.sizes, seed=1234)
    model = stage_of(reference, stage)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=args.lr)
    data = torch.Generator().manual_seed(99)
    local = args.batch // DP
    times = []
    for step in range(args.steps):
        x = torch.randn(args.batch, args.sizes[0], generator=data)
        y = torch.randn(args.batch, args.sizes[2], generator=data)
        mine = slice(replica * local, (replica + 1) * local)
        start = time.perf_counter()
        opt.zero_grad()
        loss = pipeline_step(model, stage, peer, x[mine], y[mine], args.micro, args.sizes[1],
                             local * args.sizes[2])
        for p in model.parameters():
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM, group=dp_groups[stage])
            p.grad /= DP
        opt.step()
        times.append(time.perf_counter() - start)
        if args.no_check:
            continue
        ref_opt.zero_grad()
        ref_loss = torch.nn.functional.mse_loss(reference(x), y)
        ref_loss.backward()
        ref_opt.step()
        if stage == 1 and replica == 0:
            print("step %d: replica 0 loss %.6f, one-process loss %.6f"
                  % (step, loss, ref_loss.item()), flush=True)
    ok = True if args.no_check else check(model, stage, reference, rank)
    if args.time and rank == 0:
        print("pipeline step (%s): median %.3f ms over %d steps"
              % (args.backend, 1e3 * statistics.median(times[1:] or times), len(times)))
    dist.destroy_process_group()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
