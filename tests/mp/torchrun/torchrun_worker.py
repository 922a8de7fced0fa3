"""One rank started the way torchrun or a PyTorchJob starts it (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT; no kolorun): kolo.torch must take its rank and size from them, and
allreduce, allgather and broadcast must be exact. Prints one OK line."""
import os
import sys

import torch

import kolo.torch as hvd


def expect(what, got, want):
    if got != want:
        print(f"FAIL rank {os.environ['RANK']}: {what} is {got}, want {want}", flush=True)
        sys.exit(1)


def main():
    hvd.init()
    env = os.environ
    expect("rank", hvd.rank(), int(env["RANK"]))
    expect("size", hvd.size(), int(env["WORLD_SIZE"]))
    expect("local_rank", hvd.local_rank(), int(env["LOCAL_RANK"]))
    rank, size = hvd.rank(), hvd.size()
    summed = hvd.allreduce(torch.arange(1000, dtype=torch.float64) * (rank + 1), op=hvd.Sum,
                           name="sum")
    want = torch.arange(1000, dtype=torch.float64) * (size * (size + 1) // 2)
    expect("allreduce", bool(torch.equal(summed, want)), True)
    gathered = hvd.allgather(torch.full((rank + 1,), rank, dtype=torch.int64), name="gather")
    want = torch.cat([torch.full((r + 1,), r, dtype=torch.int64) for r in range(size)])
    expect("allgather", bool(torch.equal(gathered, want)), True)
    sent = torch.arange(7, dtype=torch.int32) + 100 if rank == 0 else torch.zeros(7,
                                                                   dtype=torch.int32)
    got = hvd.broadcast(sent, root_rank=0, name="bcast")
    expect("broadcast", bool(torch.equal(got, torch.arange(7, dtype=torch.int32) + 100)), True)
    print(f"OK rank {rank} of {size} local {hvd.local_rank()}", flush=True)
    hvd.shutdown()


if __name__ == "__main__":
    main()
