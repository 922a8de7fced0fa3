"""Kolo as a torch.distributed backend: dist.* collectives and DistributedDataParallel."""


import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
import kolo.torch as hvd  # noqa: E402
from ddp_reference import train_ddp_and_reference  # noqa: E402

kolo_backend = pytest.importorskip("kolo.torch.distributed")


@pytest.fixture(scope="module")
def process_group():
    # kolorun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, as torchrun would.
    dist.init_process_group("kolo")
    yield
    dist.destroy_process_group()


def test_dist_collectives(process_group):
    rank, size = dist.get_rank(), dist.get_world_size()
    assert (rank, size) == (hvd.rank(), hvd.size())
    assert dist.get_backend() == "kolo"
    t = torch.full((3,), rank + 1.0)
    dist.all_reduce(t)
    assert t.tolist() == [size * (size + 1) / 2] * 3
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    assert t.tolist() == [size * (size + 1) / 2] * 3
    outs = [torch.zeros(2, dtype=torch.int64) for _ in range(size)]
    dist.all_gather(outs, torch.full((2,), rank))
    assert [o.tolist() for o in outs] == [[r, r] for r in range(size)]
    b = torch.full((2,), float(rank))
    dist.broadcast(b, size - 1)
    assert b.tolist() == [size - 1.0] * 2
    dist.barrier()
    got = torch.zeros(2)
    ops = [dist.P2POp(dist.isend, torch.full((2,), float(rank)), (rank + 1) % size),
           dist.P2POp(dist.irecv, got, (rank - 1) % size)]
    for work in dist.batch_isend_irecv(ops):
        work.wait()
    assert got.tolist() == [float((rank - 1) % size)] * 2


def test_ddp_matches_one_process_on_the_whole_batch(process_group):
    rank, size = dist.get_rank(), dist.get_world_size()

    def ranks_agree(model):
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        gathered = hvd.allgather(flat.unsqueeze(0))
        assert all(torch.equal(gathered[0], gathered[r]) for r in range(size))

    # Different start per rank: DDP broadcasts rank 0's parameters.
    model, reference = train_ddp_and_reference(rank, size, seed=100 + rank,
                                               opt_kwargs={"momentum": 0.9},
                                               each_step=ranks_agree)
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    flat_ref = torch.cat([p.detach().reshape(-1) for p in reference.parameters()])
    torch.testing.assert_close(flat, flat_ref, rtol=1e-9, atol=1e-9)
