"""One task of a Slurm step started directly by srun (no kolorun): kolo.torch takes rank, size,
local rank and node from Slurm. Checks the mapping against Slurm's variables and exact results of
allreduce, allgather and broadcast, and a short DistributedOptimizer training run against a
one-process reference; prints one OK line. With --fail-rank R, rank R exits 3 after
the first allreduce and the others must fail naming it instead of hanging. With --hold, every
rank prints a HOLD line after the checks and then keeps running allreduces until it is killed
(scancel)."""
import os
import sys
import time

import torch

import kolo.torch as hvd


def expect(what, got, want):
    if got != want:
        print(f"FAIL rank {os.environ['SLURM_PROCID']}: {what} is {got}, Slurm says {want}",
              flush=True)
        sys.exit(1)


def train(rank, size):
    """A few SGD steps of a small model through DistributedOptimizer, each rank on its own
    batch: afterwards every rank holds the same parameters, equal to one process stepping on
    the mean of the ranks' gradients (computed here from every rank's batch)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 1).double()
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    reference = torch.nn.Linear(8, 1).double()
    reference.load_state_dict(model.state_dict())
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                   named_parameters=model.named_parameters())
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    batches = [torch.arange(16 * (r + 1), 16 * (r + 2), dtype=torch.float64).view(2, 8) / 100
               for r in range(size)]
    for _ in range(3):
        opt.zero_grad()
        model(batches[rank]).pow(2).sum().backward()
        opt.step()
        ref_opt.zero_grad()
        (sum(reference(b).pow(2).sum() for b in batches) / size).backward()
        ref_opt.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        expect("trained parameters", bool(torch.allclose(p, q, rtol=1e-12, atol=1e-12)), True)
    weights = hvd.allgather(model.weight.detach().reshape(1, -1), name="trained.weight")
    expect("parameters equal on every rank", all(bool(torch.equal(w, weights[0])) for w in weights),
           True)


def main():
    fail_rank = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--fail-rank" else -1
    hold = sys.argv[1:] == ["--hold"]
    hvd.init()
    env = os.environ
    counts = env["SLURM_STEP_TASKS_PER_NODE"]
    expect("rank", hvd.rank(), int(env["SLURM_PROCID"]))
    expect("size", hvd.size(), int(env["SLURM_STEP_NUM_TASKS"]))
    expect("local_rank", hvd.local_rank(), int(env["SLURM_LOCALID"]))
    expect("cross_rank (node)", hvd.cross_rank(), int(env["SLURM_NODEID"]))
    expect("local_size", hvd.local_size(), int(counts.split("(")[0].split(",")[0]))
    rank, size = hvd.rank(), hvd.size()
    summed = hvd.allreduce(torch.arange(1000, dtype=torch.float64) * (rank + 1), op=hvd.Sum,
                           name="sum")
    want = torch.arange(1000, dtype=torch.float64) * (size * (size + 1) // 2)
    expect("allreduce", bool(torch.equal(summed, want)), True)
    if rank == fail_rank:
        print(f"rank {rank} exits 3 on purpose", flush=True)
        os._exit(3)
    gathered = hvd.allgather(torch.full((rank + 1,), rank, dtype=torch.int64), name="gather")
    want = torch.cat([torch.full((r + 1,), r, dtype=torch.int64) for r in range(size)])
    expect("allgather", bool(torch.equal(gathered, want)), True)
    sent = torch.arange(7, dtype=torch.int32) + 100 if rank == size - 1 else torch.zeros(7,
                                                                          dtype=torch.int32)
    got = hvd.broadcast(sent, root_rank=size - 1, name="bcast")
    expect("broadcast", bool(torch.equal(got, torch.arange(7, dtype=torch.int32) + 100)), True)
    train(rank, size)
    print(f"OK rank {rank} of {size} local {hvd.local_rank()} of {hvd.local_size()} "
          f"node {hvd.cross_rank()} {env['SLURMD_NODENAME']}", flush=True)
    if hold:
        print(f"HOLD rank {rank}", flush=True)
        while True:
            hvd.allreduce(torch.ones(1024), name="hold")
            time.sleep(0.05)
    hvd.shutdown()


if __name__ == "__main__":
    main()
