"""One task of a Slurm step started directly by srun (no kolorun): kolo.torch takes rank, size,
local rank and node from Slurm. Checks the mapping against Slurm's variables and exact results of
allreduce, allgather and broadcast; prints one OK line. With --fail-rank R, rank R exits 3 after
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
