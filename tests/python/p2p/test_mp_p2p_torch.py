"""kolo.torch.send / recv / isend / irecv (and the generic kolo API over torch tensors through
DLPack) between real processes."""

import pytest
import torch

import kolo
import kolo.torch as kt

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8, torch.uint8,
          torch.int16, torch.int32, torch.int64, torch.bool]


def values(rank, shape, dtype):
    base = (torch.arange(int(torch.tensor(shape).prod())) * 5 + rank * 3) % 64
    return base.reshape(shape).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_blocking_and_async(world, dtype):
    rank, size = world
    dst, src = (rank + 1) % size, (rank - 1) % size
    # Blocking: even ranks send first, so every pair completes in turn (odd sizes included:
    # the last rank's send to 0 is matched once 0 reaches its receive).
    out = torch.zeros(3, 4, dtype=dtype)
    if rank % 2 == 0:
        kt.send(values(rank, (3, 4), dtype), dst, tag=1)
        kt.recv(out, src, tag=1)
    else:
        kt.recv(out, src, tag=1)
        kt.send(values(rank, (3, 4), dtype), dst, tag=1)
    assert torch.equal(out, values(src, (3, 4), dtype))
    # Async, handles through kolo.torch.poll / synchronize.
    out = torch.zeros(17, dtype=dtype)
    hr = kt.irecv(out, src, tag=2)
    hs = kt.isend(values(rank, (17,), dtype), dst, tag=2)
    assert kt.synchronize(hs) is None
    assert kt.synchronize(hr) is out
    assert torch.equal(out, values(src, (17,), dtype))


def test_poll_reports_completion(world):
    rank, size = world
    if rank == 0:
        h = kt.irecv(torch.zeros(4), 1, tag=5)
        assert kt.poll(h) is False  # rank 1 sends only after the barrier below
        kt.barrier()
        while not kt.poll(h):
            pass
        assert torch.equal(kt.synchronize(h), torch.full((4,), 2.5))
    else:
        kt.barrier()
        if rank == 1:
            kt.send(torch.full((4,), 2.5), 0, tag=5)


def test_receive_into_a_non_contiguous_tensor_that_requires_grad(world):
    rank, size = world
    if rank == 0:
        kt.send(torch.arange(12.0).reshape(4, 3), 1, tag=7)
    elif rank == 1:
        target = torch.zeros(3, 4, requires_grad=True)
        view = target.t()  # 4 x 3, not contiguous
        assert not view.is_contiguous()
        with torch.no_grad():
            kt.recv(view, 0, tag=7)
        assert torch.equal(target.detach().t(), torch.arange(12.0).reshape(4, 3))
    kt.barrier()


def test_mismatch_on_both_sides_then_allreduce(world):
    rank, size = world
    if rank == 0:
        with pytest.raises(kt.KoloMismatchError, match="rank 1 expected 2 float64"):
            kt.send(torch.zeros(3, dtype=torch.float64), 1, tag=4)
    elif rank == 1:
        with pytest.raises(kt.KoloMismatchError, match="rank 0 sent 3 float64"):
            kt.recv(torch.zeros(2, dtype=torch.float64), 0, tag=4)
    got = kt.allreduce(torch.ones(2), op=kt.Sum, name="torch.after.mismatch")
    assert torch.equal(got, torch.full((2,), float(size)))


def test_generic_api_takes_torch_tensors_through_dlpack(world):
    rank, size = world
    if rank == 0:
        kolo.send(torch.arange(6, dtype=torch.int32), 1, tag=8)
    elif rank == 1:
        out = torch.zeros(6, dtype=torch.int32)
        assert kolo.recv(out, 0, tag=8) is out
        assert torch.equal(out, torch.arange(6, dtype=torch.int32))
    kt.barrier()


def test_bad_peer_and_tag(world):
    rank, size = world
    with pytest.raises(kt.KoloInvalidArgumentError, match="cannot send to itself"):
        kt.send(torch.zeros(2), rank)
    with pytest.raises(kt.KoloInvalidArgumentError, match="outside process set 0"):
        kt.irecv(torch.zeros(2), size + 3)
    with pytest.raises(kt.KoloInvalidArgumentError, match="the tag must be an int"):
        kt.isend(torch.zeros(2), (rank + 1) % size, tag="x")
    with pytest.raises(TypeError):
        kt.send([1.0], (rank + 1) % size)
