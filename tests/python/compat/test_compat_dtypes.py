"""Every dtype horovod.torch takes, for every collective that takes it, with exact results:
int16 (including wrapping sums and signed min/max at the type's limits) and bool for the ops
that only move data; NumPy arrays of both through `kolo`."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import kolo  # noqa: E402
import kolo.torch as hvd  # noqa: E402

I16 = torch.int16


def int16_input(rank, size):
    """Per-rank int16 values reaching both limits: sums wrap, products wrap, min/max see
    negative values."""
    base = torch.tensor([32767, -32768, 30000, -30000, 7, -7, 255, 256], dtype=torch.int64)
    return (base + 1000 * rank - 3 * size).to(I16) if rank % 2 else base.to(I16)


def wrap16(values):
    return ((values + 32768) % 65536 - 32768).to(I16)


def test_int16_allreduce_every_op_wraps_exactly():
    rank, size = hvd.rank(), hvd.size()
    inputs = torch.stack([int16_input(r, size).to(torch.int64) for r in range(size)])
    want = {hvd.Sum: wrap16(inputs.sum(0)), hvd.Min: inputs.min(0).values.to(I16),
            hvd.Max: inputs.max(0).values.to(I16), hvd.Product: wrap16(_wrapped_product(inputs))}
    for op, expected in want.items():
        out = hvd.allreduce(int16_input(rank, size), op=op, name="i16.%d" % op)
        assert out.dtype == I16 and torch.equal(out, expected), (op, out, expected)
    # Average: the wrapped sum, divided with truncation toward zero.
    out = hvd.allreduce(int16_input(rank, size), op=hvd.Average, name="i16.avg")
    assert torch.equal(out, torch.div(want[hvd.Sum].to(torch.int64), size,
                                      rounding_mode="trunc").to(I16))


def _wrapped_product(inputs):
    acc = torch.ones(inputs.shape[1], dtype=torch.int64)
    for row in inputs:
        acc = (acc * row + 32768) % 65536 - 32768
    return acc


def test_int16_scale_factors_truncate_and_saturate_per_rank():
    size = hvd.size()
    t = torch.tensor([101, -101, 20000], dtype=I16)
    out = hvd.allreduce(t, op=hvd.Sum, prescale_factor=0.5, postscale_factor=2.0)
    # 0.5 truncates per rank (50, -50, 10000), the sum wraps at 16 bits, 2.0 saturates.
    summed = torch.tensor([50, -50, 10000], dtype=torch.int64) * size
    summed = (summed + 32768) % 65536 - 32768
    assert torch.equal(out, (summed * 2).clamp(-32768, 32767).to(I16))


def test_int16_data_movers_reducescatter_and_grouped_forms():
    rank, size = hvd.rank(), hvd.size()
    rows = (torch.arange(2 * (rank + 1)) * 1000 - 32768 + rank).to(I16).reshape(rank + 1, 2)
    every = [(torch.arange(2 * (r + 1)) * 1000 - 32768 + r).to(I16).reshape(r + 1, 2)
             for r in range(size)]
    assert torch.equal(hvd.allgather(rows), torch.cat(every))
    assert torch.equal(hvd.grouped_allgather([rows, rows * 2])[1], torch.cat(every) * 2)
    assert torch.equal(hvd.broadcast(rows[:1], size - 1), every[size - 1][:1])
    sent = (torch.arange(size) + 100 * rank).to(I16)
    assert torch.equal(hvd.alltoall(sent), (torch.full((size,), rank) + 100 *
                                            torch.arange(size)).to(I16))
    full = torch.full((size, 3), 30000, dtype=I16)
    out = hvd.reducescatter(full, op=hvd.Sum)
    assert torch.equal(out, wrap16(torch.full((1, 3), 30000 * size, dtype=torch.int64)))
    outs = hvd.grouped_reducescatter([full, full], op=hvd.Max)
    assert all(torch.equal(o, torch.full((1, 3), 30000, dtype=I16)) for o in outs)
    g = hvd.grouped_allreduce([full, torch.ones(2)], op=hvd.Sum)
    assert g[0].dtype == I16 and torch.equal(g[0], wrap16(full.to(torch.int64) * size))


def test_bool_broadcast_allgather_alltoall_exact():
    rank, size = hvd.rank(), hvd.size()
    mine = torch.tensor([[rank % 2 == 0, rank % 3 == 0, True]])
    every = torch.cat([torch.tensor([[r % 2 == 0, r % 3 == 0, True]]) for r in range(size)])
    out = hvd.allgather(mine)
    assert out.dtype == torch.bool and torch.equal(out, every)
    assert torch.equal(hvd.grouped_allgather([mine, ~mine])[1], ~every)
    b = hvd.broadcast(mine, size - 1)
    assert b.dtype == torch.bool and torch.equal(b, every[size - 1:])
    in_place = mine.clone()
    assert hvd.broadcast_(in_place, 0) is in_place and torch.equal(in_place, every[:1])
    flags = torch.tensor([(rank + p) % 2 == 0 for p in range(size)])
    got = hvd.alltoall(flags)
    assert got.dtype == torch.bool
    assert torch.equal(got, torch.tensor([(p + rank) % 2 == 0 for p in range(size)]))
    # Bytes other than 0 and 1 never appear: the result is a real bool tensor.
    assert got.view(torch.uint8).max() <= 1


def test_bool_reductions_raise_horovods_value_error():
    flags = torch.ones(hvd.size(), dtype=torch.bool)
    for fn in (hvd.allreduce, hvd.allreduce_, hvd.reducescatter,
               lambda t: hvd.grouped_allreduce([t]), lambda t: hvd.grouped_reducescatter([t])):
        with pytest.raises(ValueError, match="Tensor type torch.BoolTensor is not supported"):
            fn(flags)
    assert hvd.allreduce(torch.ones(1), op=hvd.Sum).item() == hvd.size()


def test_numpy_int16_and_bool():
    rank, size = kolo.rank(), kolo.size()
    a = np.array([32767, -32768, 5], dtype=np.int16)
    out = kolo.allreduce(a, op=kolo.Sum)
    want = ((a.astype(np.int64) * size + 32768) % 65536 - 32768).astype(np.int16)
    assert out.dtype == np.int16 and np.array_equal(out, want)
    flags = np.array([rank % 2 == 0, True])
    got = kolo.allgather(flags[None, :])
    assert got.dtype == np.bool_
    assert np.array_equal(got, np.array([[r % 2 == 0, True] for r in range(size)]))
    assert np.array_equal(kolo.broadcast(flags, 0), np.array([True, True]))
    with pytest.raises(ValueError, match="unsupported dtype bool for allreduce"):
        kolo.allreduce(flags)
