"""kolo.torch.grouped_allgather / grouped_reducescatter (and their _async forms) through the
runtime's grouped ops: exact results against a torch reference for every dtype (bfloat16
included), uneven rows, prescale/postscale, Average; a group of several dtypes still works
(one op per tensor); the gradients stay Horovod's."""

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8, torch.uint8,
          torch.int16, torch.int32, torch.int64]


def values(rank, shape, dtype):
    count = 1
    for d in shape:
        count *= d
    return (torch.arange(count, dtype=torch.float64) % 3 + rank + 1).reshape(shape).to(dtype)


def shards(full, size, rank):
    rows = full.shape[0]
    counts = [rows // size + (1 if r < rows % size else 0) for r in range(size)]
    start = sum(counts[:rank])
    return full[start:start + counts[rank]]


def reduced(inputs, op, scale=1.0):
    out = torch.stack([t.double() for t in inputs]).sum(0)
    if op == hvd.Average:
        out = out / len(inputs)
    out = out * scale
    if not inputs[0].dtype.is_floating_point:
        out = out.trunc()
    return out.to(inputs[0].dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", [hvd.Sum, hvd.Average])
def test_grouped_reducescatter(dtype, op):
    rank, size = hvd.rank(), hvd.size()
    shapes = [(2 * size + 1, 3), (size,), (1, 2), (3, 2, 2)]
    ins = [[values(r + i, s, dtype) for r in range(size)] for i, s in enumerate(shapes)]
    outs = hvd.grouped_reducescatter([x[rank] for x in ins], op=op)
    for i, (out, x) in enumerate(zip(outs, ins)):
        want = shards(reduced(x, op), size, rank)
        assert out.dtype == dtype and out.shape == want.shape, (i, out.shape, want.shape)
        assert torch.equal(out, want), "tensor %d: %s != %s" % (i, out, want)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_grouped_reducescatter_async_scales(dtype):
    rank, size = hvd.rank(), hvd.size()
    ins = [[values(r + i, (size + i, 2), dtype) for r in range(size)] for i in range(3)]
    h = hvd.grouped_reducescatter_async([x[rank] for x in ins], op=hvd.Sum,
                                        prescale_factor=0.25, postscale_factor=2.0)
    for i, (out, x) in enumerate(zip(hvd.synchronize(h), ins)):
        assert torch.equal(out, shards(reduced(x, hvd.Sum, 0.5), size, rank)), i


@pytest.mark.parametrize("dtype", DTYPES + [torch.bool])
def test_grouped_allgather_uneven(dtype):
    rank, size = hvd.rank(), hvd.size()

    def make(r, i):
        t = values(r + i, (r + i, 2), torch.float64)
        return (t % 2).to(dtype) if dtype == torch.bool else t.to(dtype)
    h = hvd.grouped_allgather_async([make(rank, i) for i in range(3)])
    for i, out in enumerate(hvd.synchronize(h)):
        want = torch.cat([make(r, i) for r in range(size)])
        assert out.dtype == dtype and torch.equal(out, want), i


def test_group_of_several_dtypes_runs_one_op_per_tensor():
    rank, size = hvd.rank(), hvd.size()
    outs = hvd.grouped_allgather([torch.full((1,), rank, dtype=torch.int32),
                                  torch.full((2,), float(rank), dtype=torch.float64)])
    assert torch.equal(outs[0], torch.arange(size, dtype=torch.int32))
    assert torch.equal(outs[1], torch.arange(size, dtype=torch.float64).repeat_interleave(2))


def test_grouped_reducescatter_gradient_is_horovods():
    size = hvd.size()
    x = [torch.ones(size, 2, requires_grad=True), torch.ones(2 * size, requires_grad=True)]
    outs = hvd.grouped_reducescatter(x, op=hvd.Sum)
    sum(o.sum() for o in outs).backward()
    # Horovod: the incoming gradient times the set size (op=Sum), allgathered.
    for t in x:
        assert torch.equal(t.grad, torch.full_like(t, float(size)))
