"""ShardedOptimizer against DistributedOptimizer: the same model, data and wrapped optimizer
must end with the same parameters and the same (consolidated) optimizer state, at stage 1 and
2, with buckets small enough that parameters spread over several of them, and with every rank
holding only its shard of the state. Tolerances: sharded_common.py."""

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402
from sharded_common import (OPTIMIZERS, assert_ranks_agree, assert_same, data,  # noqa: E402
                            flat, make_model, param_groups, train)

TINY_BUCKETS = 200 / 2**20  # 200 bytes: several buckets, boundaries inside no parameter


def build(optimizer, stage=None, bucket_cap_mb=TINY_BUCKETS):
    model = make_model()
    inner = OPTIMIZERS[optimizer](param_groups(model))
    if stage is None:
        return model, hvd.DistributedOptimizer(inner, named_parameters=model.named_parameters())
    return model, hvd.ShardedOptimizer(inner, named_parameters=model.named_parameters(),
                                       stage=stage, bucket_cap_mb=bucket_cap_mb)


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "adagrad", "rmsprop"])
def test_parameters_and_state_match_distributed_optimizer(optimizer, stage):
    batches = data()
    model, opt = build(optimizer, stage)
    ref_model, ref_opt = build(optimizer)
    assert isinstance(opt, type(ref_opt).__mro__[1])
    assert len(opt._buckets) > 2
    train(model, opt, batches)
    train(ref_model, ref_opt, batches)
    assert_ranks_agree(model)
    assert_same(flat(model), flat(ref_model), "parameters after %d steps" % len(batches))
    opt.consolidate_state_dict(to=0)
    if hvd.rank() != 0:
        with pytest.raises(RuntimeError, match="consolidate_state_dict"):
            opt.state_dict()
        return
    mine, ref = opt.state_dict(), ref_opt.state_dict()
    assert mine["param_groups"] == ref["param_groups"]
    assert sorted(mine["state"]) == sorted(ref["state"])
    for index, entry in ref["state"].items():
        assert sorted(mine["state"][index]) == sorted(entry)
        for key, value in entry.items():
            got = mine["state"][index][key]
            if not torch.is_tensor(value):  # RMSprop's step count is an int
                assert got == value, "state %d.%s" % (index, key)
                continue
            assert got.shape == value.shape, "state %d.%s" % (index, key)
            loose = optimizer == "rmsprop"  # see sharded_common.py
            assert_same(got, value, "state %d.%s" % (index, key), rtol=1e-4 if loose else 1e-5,
                        atol=1e-5 if loose else 1e-6)


@pytest.mark.parametrize("stage", [1, 2])
def test_gradients_after_step(stage):
    """Stage 1 keeps each rank's own gradient in p.grad. Stage 2 frees it as soon as its
    bucket was packed during backward; the bucket holding the unused layer only completes in
    step(), which frees the rest."""
    model, opt = build("sgd", stage)
    x, y = data(1)[0]
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    unused = set(model.unused.parameters())
    waiting = {p for b in opt._buckets if unused & set(b.params) for p in b.params}
    assert len(waiting) > len(unused)
    local = {}
    for p in model.parameters():
        if p in unused:
            assert p.grad is None
        elif stage == 1 or p in waiting:
            local[p] = p.grad.clone()
        else:
            assert p.grad is None, "stage 2 kept a gradient whose bucket was sent"
    assert len(local) == (len(list(model.parameters())) - 2 if stage == 1 else
                          len(waiting) - len(unused))
    opt.step()
    for p in model.parameters():
        if stage == 1 and p in local:
            assert torch.equal(p.grad, local[p])
        else:
            assert p.grad is None


def test_state_is_sharded():
    """Adam's state on each rank: two values per element of its slice of each bucket, i.e.
    1/n of the unsharded state up to one padding element per bucket."""
    model, opt = build("adam", 1, bucket_cap_mb=25)
    train(model, opt, data(1))
    total = sum(p.numel() for p in model.parameters())
    n = hvd.size()
    local = sum(v.numel() for s in opt._local.state.values() for v in s.values() if v.dim())
    buckets = len(opt._buckets)
    assert buckets == 2  # one per param group
    assert local == 2 * sum(-(-b.numel // n) for b in opt._buckets)
    assert 2 * total / n <= local <= 2 * (total / n + buckets)
    counts = hvd.allgather(torch.tensor([local]), name="sharded.local_state")
    assert int(counts.sum()) == 2 * sum(b.padded for b in opt._buckets)


def test_float64_on_every_size():
    """In float64 the order of the three-way sum changes the result far below 1e-12."""
    model = make_model(torch.float64)
    ref_model = make_model(torch.float64)
    opt = hvd.ShardedOptimizer(torch.optim.Adam(model.parameters(), lr=0.01), stage=2,
                               bucket_cap_mb=TINY_BUCKETS)
    ref_opt = hvd.DistributedOptimizer(torch.optim.Adam(ref_model.parameters(), lr=0.01))
    batches = data(dtype=torch.float64)
    train(model, opt, batches)
    train(ref_model, ref_opt, batches)
    torch.testing.assert_close(flat(model), flat(ref_model), rtol=1e-12, atol=1e-12)


def test_lr_scheduler_reaches_the_shards():
    model, opt = build("sgd", 1)
    ref_model, ref_opt = build("sgd")
    scheds = [torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5)
              for o in (opt, ref_opt)]
    for batch in data():
        for m, o, s in ((model, opt, scheds[0]), (ref_model, ref_opt, scheds[1])):
            train(m, o, [batch])
            s.step()
    assert opt.param_groups[0]["lr"] == ref_opt.param_groups[0]["lr"] == 0.05 / 16
    assert opt._local.param_groups[0]["lr"] == 0.05 / 8  # what the last step() ran with
    assert_same(flat(model), flat(ref_model), "parameters under StepLR")


def test_parameters_written_between_steps_are_picked_up():
    model, opt = build("adam", 1)
    ref_model, ref_opt = build("adam")
    batches = data()
    train(model, opt, batches[:2])
    train(ref_model, ref_opt, batches[:2])
    for m in (model, ref_model):
        with torch.no_grad():
            m.a.weight.mul_(0.5)  # in place, as load_state_dict writes
            m.scale.fill_(2.0)
    train(model, opt, batches[2:])
    train(ref_model, ref_opt, batches[2:])
    assert_same(flat(model), flat(ref_model), "parameters after an in-place write")


def test_parameters_are_views_of_the_gathered_buffers():
    """Contiguous host parameters live in their bucket's gathered buffer, so the allgather
    writes them in place: after a step every parameter's storage is one of those buffers."""
    model, opt = build("sgd", 1)
    train(model, opt, data()[:1])
    buffers = {g.storage().data_ptr() for g in opt._gathered}
    for name, p in model.named_parameters():
        assert p.storage().data_ptr() in buffers, name


def test_parameters_re_pointed_after_construction_still_take_the_step():
    """A parameter whose data was replaced after ShardedOptimizer was built (p.data = ...,
    as moving a model does) is no longer a view of the gathered buffer: it must still get the
    gathered values, by copy."""
    model, opt = build("adam", 1)
    ref_model, ref_opt = build("adam")
    batches = data()
    with torch.no_grad():
        model.a.weight.data = model.a.weight.data.clone()
    train(model, opt, batches)
    train(ref_model, ref_opt, batches)
    assert_ranks_agree(model)
    assert_same(flat(model), flat(ref_model), "parameters after re-pointing one")
