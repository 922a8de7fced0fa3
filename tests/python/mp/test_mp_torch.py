"""kolo.torch (horovod.torch's API) across real processes."""

import gc

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8, torch.uint8,
          torch.int16, torch.int32, torch.int64]
OPS = [hvd.Sum, hvd.Average, hvd.Min, hvd.Max, hvd.Product]


def values(rank, count, dtype):
    return (torch.arange(count, dtype=torch.float64) % 3 + rank + 1).to(dtype)


def reference(op, tensors):
    stack = torch.stack([t.double() for t in tensors])
    out = {hvd.Sum: lambda: stack.sum(0), hvd.Average: lambda: stack.sum(0) / len(tensors),
           hvd.Min: lambda: stack.min(0).values, hvd.Max: lambda: stack.max(0).values,
           hvd.Product: lambda: stack.prod(0)}[op]()
    if not tensors[0].dtype.is_floating_point:
        out = out.trunc()
    return out.to(tensors[0].dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_allreduce_every_dtype_and_op(dtype, op):
    rank, size = hvd.rank(), hvd.size()
    t = values(rank, 11, dtype)
    want = reference(op, [values(r, 11, dtype) for r in range(size)])
    out = hvd.allreduce(t, op=op, name="t.%s.%d" % (dtype, op))
    assert out.dtype == dtype
    assert torch.equal(out, want)
    assert torch.equal(t, values(rank, 11, dtype)), "out-of-place must keep the input"
    inplace = values(rank, 11, dtype)
    assert hvd.allreduce_(inplace, op=op, name="t_.%s.%d" % (dtype, op)) is inplace
    assert torch.equal(inplace, want)


def test_allreduce_default_is_average_and_average_flag():
    rank, size = hvd.rank(), hvd.size()
    t = torch.full((3,), float(rank))
    assert torch.equal(hvd.allreduce(t), torch.full((3,), (size - 1) / 2))
    assert torch.equal(hvd.allreduce(t, average=False), torch.full((3,), float(sum(range(size)))))


def test_async_forms_and_poll():
    rank, size = hvd.rank(), hvd.size()
    a = torch.full((1000,), rank + 1.0)
    h1 = hvd.allreduce_async(a, op=hvd.Sum, name="async.a")
    h2 = hvd.allreduce_async_(a, op=hvd.Max, name="async.b")
    assert isinstance(hvd.poll(h1), bool)
    total = hvd.synchronize(h1)
    hvd.synchronize(h2)
    assert torch.equal(total, torch.full((1000,), float(size * (size + 1) / 2)))
    assert torch.equal(a, torch.full((1000,), float(size)))
    assert hvd.poll(hvd.allreduce_async(a, name="async.c")) in (True, False)


def test_poll_is_false_until_every_rank_submitted():
    rank, size = hvd.rank(), hvd.size()
    if rank == 0:
        # Rank 0 submits first; the others submit only after the "go" broadcast below, which
        # rank 0 sends after polling, so the op cannot have completed yet.
        h = hvd.allreduce_async(torch.full((4,), 1.0), op=hvd.Sum, name="poll.pending")
        assert hvd.poll(h) is False
        gc.collect()  # the op holds its tensors: no reference here, yet still valid memory
        hvd.broadcast_(torch.ones(1), 0, name="poll.go")
        assert torch.equal(hvd.synchronize(h), torch.full((4,), float(size)))
    else:
        hvd.broadcast_(torch.zeros(1), 0, name="poll.go")
        h = hvd.allreduce_async(torch.full((4,), 1.0), op=hvd.Sum, name="poll.pending")
        assert torch.equal(hvd.synchronize(h), torch.full((4,), float(size)))
    with pytest.raises(hvd.KoloError, match="unknown or was already synchronized"):
        hvd.poll(h)


def test_non_contiguous_out_of_place_and_broadcast():
    rank, size = hvd.rank(), hvd.size()
    base = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    t = (base * (rank + 1)).t()
    out = hvd.allreduce(t, op=hvd.Sum)
    assert torch.equal(out, base.t() * (size * (size + 1) / 2))
    assert torch.equal(t, (base * (rank + 1)).t()), "the input is left as it was"
    b = (base * (rank + 1))[:, ::2]
    assert not b.is_contiguous()
    assert hvd.broadcast_(b, size - 1) is b
    assert torch.equal(b, (base * size)[:, ::2])
    assert torch.equal(hvd.allgather(base.t()[:1]), base.t()[:1].repeat(size, 1))


def test_non_contiguous_in_place_writes_back():
    rank, size = hvd.rank(), hvd.size()
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    t = (base * (rank + 1)).t()
    assert not t.is_contiguous()
    hvd.allreduce_(t, op=hvd.Sum)
    assert torch.equal(t, base.t() * (size * (size + 1) / 2))


def test_prescale_postscale_integers_truncate_per_rank():
    rank, size = hvd.rank(), hvd.size()
    t = torch.tensor([3, 5, 7], dtype=torch.int64) + rank
    out = hvd.allreduce(t, op=hvd.Sum, prescale_factor=0.5, postscale_factor=3.0)
    summed = sum(((torch.tensor([3, 5, 7]) + r).double() * 0.5).trunc() for r in range(size))
    assert torch.equal(out, (summed * 3.0).trunc().long())


def test_fp16_compression_round_trips_dtype():
    rank, size = hvd.rank(), hvd.size()
    t = torch.full((5,), rank + 0.5, dtype=torch.float32)
    out = hvd.allreduce(t, op=hvd.Sum, compression=hvd.Compression.fp16)
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.full((5,), float(sum(r + 0.5 for r in range(size)))))


def test_grouped_allreduce_forms():
    rank, size = hvd.rank(), hvd.size()
    ts = [torch.full((n,), rank + 1.0) for n in (1, 5, 300)]
    s = float(size * (size + 1) / 2)
    outs = hvd.grouped_allreduce(ts, op=hvd.Sum)
    assert [o.tolist() for o in outs] == [[s] * n for n in (1, 5, 300)]
    hvd.synchronize(hvd.grouped_allreduce_async_(ts, op=hvd.Sum))
    assert all(torch.equal(t, torch.full_like(t, s)) for t in ts)
    outs = hvd.synchronize(hvd.grouped_allreduce_async([torch.ones(2)] * 2, op=hvd.Sum))
    assert [o.tolist() for o in outs] == [[size, size]] * 2
    mixed = [torch.full((3,), rank + 1, dtype=torch.int32), torch.full((2,), rank + 1.0),
             torch.full((1,), rank + 1, dtype=torch.int32)]
    outs = hvd.grouped_allreduce(mixed, op=hvd.Sum)
    assert [o.dtype for o in outs] == [torch.int32, torch.float32, torch.int32]
    assert [o.tolist() for o in outs] == [[int(s)] * 3, [s] * 2, [int(s)]]
    ts = [torch.full((2,), float(rank))]
    hvd.grouped_allreduce_(ts)
    assert ts[0].tolist() == [(size - 1) / 2] * 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_allgather_broadcast_every_dtype(dtype):
    rank, size = hvd.rank(), hvd.size()
    t = values(rank, 2 * (rank + 1), dtype).reshape(rank + 1, 2)
    out = hvd.allgather(t)
    assert torch.equal(out, torch.cat([values(r, 2 * (r + 1), dtype).reshape(r + 1, 2)
                                       for r in range(size)]))
    root = size - 1
    assert torch.equal(hvd.broadcast(values(rank, 4, dtype), root), values(root, 4, dtype))
    b = values(rank, 4, dtype)
    hvd.synchronize(hvd.broadcast_async_(b, 0))
    assert torch.equal(b, values(0, 4, dtype))


def test_every_async_form_polls_then_completes():
    rank, size = hvd.rank(), hvd.size()
    t = torch.full((size, 2), rank + 1.0)
    b = t.clone()
    handles = {
        "allreduce": hvd.allreduce_async(t, op=hvd.Min),
        "allgather": hvd.allgather_async(t),
        "broadcast": hvd.broadcast_async(t, size - 1),
        "alltoall": hvd.alltoall_async(t),
        "reducescatter": hvd.reducescatter_async(t, op=hvd.Sum),
        "grouped_allgather": hvd.grouped_allgather_async([t, t[:1]]),
        "grouped_reducescatter": hvd.grouped_reducescatter_async([t], op=hvd.Max),
    }
    assert all(hvd.poll(h) in (True, False) for h in handles.values())
    out = {k: hvd.synchronize(h) for k, h in handles.items()}
    ranks = torch.arange(1.0, size + 1)
    assert torch.equal(out["allreduce"], torch.ones(size, 2))
    assert torch.equal(out["allgather"], ranks.repeat_interleave(size)[:, None].expand(-1, 2))
    assert torch.equal(out["broadcast"], torch.full((size, 2), float(size)))
    # As with Horovod, synchronize() of an alltoall handle gives the received splits too.
    assert torch.equal(out["alltoall"][0], ranks[:, None].expand(-1, 2))
    assert out["alltoall"][1].tolist() == [1] * size
    assert torch.equal(out["reducescatter"], torch.full((1, 2), size * (size + 1) / 2))
    assert torch.equal(out["grouped_allgather"][1], ranks[:, None].expand(-1, 2))
    assert torch.equal(out["grouped_reducescatter"][0], torch.full((1, 2), float(size)))
    assert torch.equal(hvd.broadcast_(b, 0), torch.ones(size, 2)) and torch.equal(b, t * 0 + 1)


def test_grouped_allgather_and_reducescatter():
    rank, size = hvd.rank(), hvd.size()
    outs = hvd.grouped_allgather([torch.tensor([rank]), torch.tensor([rank * 10])])
    assert outs[0].tolist() == list(range(size))
    assert outs[1].tolist() == [r * 10 for r in range(size)]
    rs = hvd.grouped_reducescatter([torch.ones(size, 2), torch.ones(size) * rank], op=hvd.Sum)
    assert rs[0].tolist() == [[size, size]]
    assert rs[1].tolist() == [sum(range(size))]


def test_alltoall_and_reducescatter():
    rank, size = hvd.rank(), hvd.size()
    out = hvd.alltoall(torch.arange(size) + 10 * rank)
    assert out.tolist() == [rank + 10 * r for r in range(size)]
    splits = torch.tensor([1] * size)
    out, received = hvd.alltoall(torch.arange(size) * 1.0 + rank, splits=splits)
    assert out.tolist() == [float(rank + r) for r in range(size)]
    assert received.tolist() == [1] * size
    rs = hvd.reducescatter(torch.full((size, 3), rank + 1.0))
    assert rs.tolist() == [[(size + 1) / 2] * 3]
    rs = hvd.reducescatter(torch.full((size, 3), rank + 1.0), op=hvd.Sum,
                           postscale_factor=2.0)
    assert rs.tolist() == [[float(size * (size + 1))] * 3]


def test_row_ops_into_an_output():
    """output= of allgather, reducescatter and alltoall (as torch's all_gather_into_tensor,
    reduce_scatter_tensor and all_to_all_single): a contiguous host tensor of the input's dtype
    is written by Kolo and is the result; any other output gets a copy; a wrong-sized one is
    refused naming both sizes."""
    rank, size = hvd.rank(), hvd.size()
    out = torch.full((size, 2), -1.0)
    got = hvd.synchronize(hvd.allgather_async(torch.full((1, 2), rank + 0.5), output=out))
    assert got is out and out.tolist() == [[r + 0.5] * 2 for r in range(size)]
    strided = torch.full((2, size), -1.0).t()  # not contiguous: takes a copy
    got = hvd.synchronize(hvd.allgather_async(torch.full((1, 2), rank + 0.5), output=strided))
    assert got is strided and strided.tolist() == [[r + 0.5] * 2 for r in range(size)]
    slice_ = torch.full((3,), -1.0)
    got = hvd.synchronize(hvd.reducescatter_async(torch.full((size, 3), rank + 1.0),
                                                  op=hvd.Sum, output=slice_))
    assert got is slice_ and slice_.tolist() == [float(size * (size + 1) / 2)] * 3
    with pytest.raises(hvd.KoloInvalidArgumentError,
                       match="result is %d bytes but the output given holds %d"
                       % (8 * size, 8 * size - 4)):
        hvd.synchronize(hvd.allgather_async(torch.full((1, 2), 1.0),
                                            output=torch.empty(2 * size - 1)))
    rows = torch.full((size,), -1.0)
    got, received = hvd.synchronize(hvd.alltoall_async(torch.arange(size) * 1.0 + 10 * rank,
                                                       output=rows))
    assert got is rows and rows.tolist() == [rank + 10.0 * r for r in range(size)]
    assert received.tolist() == [1] * size
    # The job goes on after the refused output.
    assert hvd.allreduce(torch.ones(1), op=hvd.Sum).item() == size


def test_allreduce_is_differentiable():
    rank, size = hvd.rank(), hvd.size()
    x = torch.full((3,), rank + 1.0, requires_grad=True)
    y = hvd.allreduce(x, op=hvd.Sum)
    (y * (rank + 1)).sum().backward()
    assert x.grad.tolist() == [float(size * (size + 1) / 2)] * 3


def test_gradients_flow_through_every_collective():
    rank, size = hvd.rank(), hvd.size()
    ranks = torch.arange(size, dtype=torch.float64)
    # allgather: the averaged output gradient, narrowed to this rank's rows (Horovod's rule).
    x = torch.full((rank + 1, 2), 1.0, dtype=torch.float64, requires_grad=True)
    g = hvd.allgather(x)
    weights = torch.arange(g.shape[0], dtype=torch.float64)[:, None] * (rank + 1)
    (g * weights).sum().backward()
    offset = sum(r + 1 for r in range(rank))
    want = torch.arange(offset, offset + rank + 1, dtype=torch.float64)[:, None] * \
        (size + 1) / 2
    assert torch.equal(x.grad, want.expand(-1, 2))
    # broadcast: the averaged gradient on the root, zero elsewhere.
    x = torch.ones(3, dtype=torch.float64, requires_grad=True)
    (hvd.broadcast(x, 0) * (rank + 1)).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), (size + 1) / 2 if rank == 0 else 0.0,
                                          dtype=torch.float64))
    # alltoall: each received row's gradient goes back to the rank that sent it.
    x = (torch.arange(size, dtype=torch.float64) + 10 * rank).requires_grad_(True)
    y = hvd.alltoall(x)
    (y * (ranks + 1) * (rank + 1)).sum().backward()
    assert torch.equal(x.grad, (ranks + 1) * (rank + 1))
    # reducescatter: Horovod's gradient, the gathered output gradients times the pre- and
    # postscale factors (and the set's size for Sum; test_compat_gradients.py).
    x = torch.ones(size, 2, dtype=torch.float64, requires_grad=True)
    (hvd.reducescatter(x, op=hvd.Average, postscale_factor=3.0) * (rank + 1)).sum().backward()
    assert torch.equal(x.grad, ((ranks + 1) * 3.0)[:, None].expand(-1, 2))
    # grouped allreduce: each tensor's gradient is the same reduction of its output's.
    a = torch.ones(2, dtype=torch.float64, requires_grad=True)
    b = torch.ones(3, dtype=torch.float64, requires_grad=True)
    ya, yb = hvd.grouped_allreduce([a, b], op=hvd.Sum)
    ((ya * (rank + 1)).sum() + (yb * 2).sum()).backward()
    assert torch.equal(a.grad, torch.full((2,), size * (size + 1) / 2, dtype=torch.float64))
    assert torch.equal(b.grad, torch.full((3,), 2.0 * size, dtype=torch.float64))


def test_timeline_records_the_ops_of_every_rank(tmp_path):
    rank, size = hvd.rank(), hvd.size()
    path = tmp_path / ("timeline.%d.json" % rank)
    hvd.start_timeline(str(path))
    hvd.allreduce(torch.ones(8), name="mp.timeline.op")
    # A handle completes before its event is written; the barrier's later cycle orders the
    # write before stop_timeline().
    hvd.barrier()
    hvd.stop_timeline()
    if rank != 0:
        assert not path.exists(), "only rank 0 writes the timeline"
        return
    import json
    events = json.loads(path.read_text())
    rows = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert "allreduce.mp.timeline.op" in rows
    names = {e["name"] for e in events}
    assert {"RANK %d READY" % r for r in range(size)} <= names
    assert "ALLREDUCE" in names and not any(n.startswith("CYCLE ") for n in names)


def test_objects_parameters_and_optimizer_state():
    rank, size = hvd.rank(), hvd.size()
    assert hvd.broadcast_object({"rank": rank, "list": [rank] * 3}, root_rank=size - 1) == \
        {"rank": size - 1, "list": [size - 1] * 3}
    assert hvd.allgather_object(("r", rank)) == [("r", r) for r in range(size)]
    torch.manual_seed(rank)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    gathered = hvd.allgather(flat.unsqueeze(0))
    assert all(torch.equal(gathered[0], gathered[r]) for r in range(size))
    opt = torch.optim.Adam(model.parameters(), lr=0.1 * (rank + 1))
    if rank == 0:
        model(torch.ones(2, 4)).sum().backward()
        opt.step()
    hvd.broadcast_optimizer_state(opt, root_rank=0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    state = opt.state_dict()["state"]
    assert len(state) == 4 and all(int(s["step"]) == 1 for s in state.values())
    sums = hvd.allgather(torch.stack([s["exp_avg"].double().sum() for s in state.values()])
                         .unsqueeze(0))
    assert all(torch.equal(sums[0], sums[r]) for r in range(size))


def test_join_with_uneven_batches():
    rank, size = hvd.rank(), hvd.size()
    for step in range(rank + 1):
        out = hvd.allreduce(torch.tensor([rank + 1.0]), op=hvd.Sum, name="uneven.%d" % step)
        assert out.item() == float(sum(r + 1 for r in range(step, size)))
    assert hvd.join() == size - 1


def test_sync_batch_norm_matches_batch_norm_on_global_batch():
    rank, size = hvd.rank(), hvd.size()
    torch.manual_seed(7)
    full = torch.randn(4 * size, 3, 5, dtype=torch.float64)
    local = full[4 * rank:4 * rank + 4].clone().requires_grad_(True)
    sbn = hvd.SyncBatchNorm(3).double()
    out = sbn(local)
    (out * torch.arange(5, dtype=torch.float64)).sum().backward()
    ref_in = full.clone().requires_grad_(True)
    bn = torch.nn.BatchNorm1d(3).double()
    ref = bn(ref_in)
    (ref * torch.arange(5, dtype=torch.float64)).sum().backward()
    torch.testing.assert_close(out, ref[4 * rank:4 * rank + 4])
    torch.testing.assert_close(local.grad, ref_in.grad[4 * rank:4 * rank + 4])
    torch.testing.assert_close(sbn.running_mean, bn.running_mean)
    torch.testing.assert_close(sbn.running_var, bn.running_var)
    weight_grad = hvd.allreduce(sbn.weight.grad, op=hvd.Sum)
    torch.testing.assert_close(weight_grad, bn.weight.grad)


def test_process_set_and_mismatch():
    rank, size = hvd.rank(), hvd.size()
    ps = hvd.add_process_set([0, size - 1])
    if ps.included():
        assert hvd.allreduce(torch.tensor([1.0]), op=hvd.Sum, process_set=ps).item() == 2.0
    hvd.remove_process_set(ps)
    with pytest.raises(hvd.KoloMismatchError, match="torch.mismatch") as info:
        hvd.allreduce(torch.ones(rank + 1), name="torch.mismatch")
    assert isinstance(info.value, hvd.HorovodInternalError)
