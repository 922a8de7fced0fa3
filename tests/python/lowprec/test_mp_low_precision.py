"""16-bit floats across real processes: float16 / bfloat16 allreduce sums accumulate in float32
and round once per element (whatever the algorithm: CMake runs this suite with
KOLO_ALLREDUCE_ALGO forced to each one), and hvd.Compression.bf16 alone and in
DistributedOptimizer.

Inputs are chosen so that every partial sum is exact in float32 in any order while the total
needs rounding to 16 bits; the expected value is then the float64 sum rounded once, bit for bit.
"""

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402

COUNTS = [1000, 300001]  # one fusion buffer chunk / several ring chunks per rank


def exact_inputs(rank, count, dtype):
    """k * 2^-10 (float16, |k| <= 2047) or k * 2^-7 (bfloat16, |k| <= 255): exact in the dtype,
    and sums of up to 8 ranks need at most 15 bits, so float32 adds them exactly."""
    g = torch.Generator().manual_seed(7919 * (rank + 1))
    if dtype == torch.float16:
        k = torch.randint(-2047, 2048, (count,), generator=g)
        return (k.double() * 2.0 ** -10).to(dtype)
    k = torch.randint(-255, 256, (count,), generator=g)
    return (k.double() * 2.0 ** -7).to(dtype)


def rounded_once(total, size, op, dtype):
    """The float64 sum (exact in float32), divided in float32 for Average, rounded to dtype."""
    wide = total.to(torch.float32)
    if op == hvd.Average:
        wide = wide / size
    return wide.to(dtype)


@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("op", [hvd.Sum, hvd.Average])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_16bit_allreduce_rounds_once_per_element(dtype, op, count):
    rank, size = hvd.rank(), hvd.size()
    total = sum(exact_inputs(r, count, dtype).double() for r in range(size))
    want = rounded_once(total, size, op, dtype)
    out = hvd.allreduce(exact_inputs(rank, count, dtype), op=op)
    assert out.dtype == dtype
    wrong = (out.view(torch.int16) != want.view(torch.int16)).nonzero()
    assert wrong.numel() == 0, "element %d: got %r, want %r (float64 sum %r)" % (
        wrong[0, 0], out[wrong[0, 0]].item(), want[wrong[0, 0]].item(), total[wrong[0, 0]].item())


def gradients(rank, count, dtype=torch.float32):
    """Full-precision values in (-2, -1] and [1, 2): bfloat16 keeps 8 of their 24 bits, and sums
    of up to 8 compressed values are exact in float32."""
    g = torch.Generator().manual_seed(104729 + rank)
    magnitude = 1.0 + torch.rand(count, generator=g, dtype=torch.float64)
    sign = torch.randint(0, 2, (count,), generator=g).double() * 2 - 1
    return (sign * magnitude).to(dtype)


def compressed_reference(size, count, op, dtype):
    total = sum(gradients(r, count, dtype).to(torch.bfloat16).double() for r in range(size))
    return rounded_once(total, size, op, torch.bfloat16).to(dtype)


@pytest.mark.parametrize("op", [hvd.Sum, hvd.Average])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bf16_compression_is_the_bf16_rounding_of_the_compressed_sum(dtype, op):
    rank, size = hvd.rank(), hvd.size()
    count = 4099
    grad = gradients(rank, count, dtype)
    out = hvd.allreduce(grad, op=op, compression=hvd.Compression.bf16)
    assert out.dtype == dtype
    want = compressed_reference(size, count, op, dtype)
    assert torch.equal(out, want)
    # The wire carried bfloat16: the uncompressed allreduce keeps bits that bfloat16 drops.
    assert not torch.equal(hvd.allreduce(grad, op=op), want)


def test_bf16_compression_leaves_16bit_and_integer_tensors_alone():
    for t in (torch.ones(3, dtype=torch.float16), torch.ones(3, dtype=torch.bfloat16),
              torch.arange(3, dtype=torch.int32)):
        compressed, ctx = hvd.Compression.bf16.compress(t)
        assert compressed is t and ctx is None
        assert hvd.Compression.bf16.decompress(compressed, ctx) is t
    size = hvd.size()
    out = hvd.allreduce(torch.arange(3, dtype=torch.int32), op=hvd.Sum,
                        compression=hvd.Compression.bf16)
    assert torch.equal(out, torch.arange(3, dtype=torch.int32) * size)


@pytest.mark.parametrize("op", [hvd.Sum, hvd.Average])
def test_bf16_compression_in_distributed_optimizer(op):
    """SGD with lr=1 from zero: the step leaves -(reduced gradient) in the parameter, exactly."""
    rank, size = hvd.rank(), hvd.size()
    count = 1031
    weight = torch.nn.Parameter(torch.zeros(count))
    opt = hvd.DistributedOptimizer(torch.optim.SGD([weight], lr=1.0),
                                   named_parameters=[("weight", weight)],
                                   compression=hvd.Compression.bf16, op=op)
    opt.zero_grad()
    (weight * gradients(rank, count)).sum().backward()
    opt.step()
    assert torch.equal(weight.detach(), -compressed_reference(size, count, op, torch.float32))
