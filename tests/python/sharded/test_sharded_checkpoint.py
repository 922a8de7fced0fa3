"""ShardedOptimizer checkpoints: a consolidated state dict (the wrapped optimizer's own format)
and a sharded one each resume training exactly where an uninterrupted run goes; the
consolidated one also resumes a DistributedOptimizer, and a ShardedOptimizer loads a
DistributedOptimizer's state; a sharded one from another layout is refused by name."""

import io

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402
from sharded_common import (OPTIMIZERS, assert_same, data, flat, make_model,  # noqa: E402
                            param_groups, train)

CAP = 200 / 2**20


def sharded(optimizer, stage, cap=CAP):
    model = make_model()
    return model, hvd.ShardedOptimizer(OPTIMIZERS[optimizer](param_groups(model)),
                                       named_parameters=model.named_parameters(), stage=stage,
                                       bucket_cap_mb=cap)


def distributed(optimizer):
    model = make_model()
    return model, hvd.DistributedOptimizer(OPTIMIZERS[optimizer](param_groups(model)),
                                           named_parameters=model.named_parameters())


def through_file(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf)


def consolidated(opt):
    """Rank 0's consolidated state, saved, loaded and handed to every rank."""
    opt.consolidate_state_dict(to=0)
    state = through_file(opt.state_dict()) if hvd.rank() == 0 else None
    return hvd.broadcast_object(state, root_rank=0, name="sharded.ckpt")


def resume(model, opt, saved_model):
    model.load_state_dict(saved_model)
    return model, opt


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_consolidated_round_trip(optimizer, stage):
    batches = data(6)
    whole_model, whole = sharded(optimizer, stage)
    train(whole_model, whole, batches)

    model, opt = sharded(optimizer, stage)
    train(model, opt, batches[:3])
    state, saved_model = consolidated(opt), model.state_dict()
    # A fresh job, built differently (one bucket per group), resumes from the checkpoint.
    model2, opt2 = resume(*sharded(optimizer, stage, cap=25), saved_model)
    opt2.load_state_dict(state)
    train(model2, opt2, batches[3:])
    # Another layout puts other elements in each rank's slice, which on 3 ranks changes the
    # order of their three-way sums (sharded_common.py).
    assert_same(flat(model2), flat(whole_model), "resumed with another bucket layout")
    model3, opt3 = resume(*sharded(optimizer, stage), saved_model)
    opt3.load_state_dict(state)
    train(model3, opt3, batches[3:])
    assert torch.equal(flat(model3), flat(whole_model))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_sharded_round_trip(optimizer):
    batches = data(6)
    whole_model, whole = sharded(optimizer, 2)
    train(whole_model, whole, batches)
    model, opt = sharded(optimizer, 2)
    train(model, opt, batches[:3])
    state, saved_model = through_file(opt.sharded_state_dict()), model.state_dict()
    assert state["kolo_sharded"]["rank"] == hvd.rank()
    model2, opt2 = resume(*sharded(optimizer, 2), saved_model)
    opt2.load_state_dict(state)
    train(model2, opt2, batches[3:])
    assert torch.equal(flat(model2), flat(whole_model))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_consolidated_state_resumes_distributed_optimizer_and_back(optimizer):
    batches = data(6)
    ref_model, ref = distributed(optimizer)
    train(ref_model, ref, batches)

    model, opt = sharded(optimizer, 1)
    train(model, opt, batches[:3])
    state, saved_model = consolidated(opt), model.state_dict()
    model2, opt2 = resume(*distributed(optimizer), saved_model)
    opt2.load_state_dict(state)
    train(model2, opt2, batches[3:])
    assert_same(flat(model2), flat(ref_model), "DistributedOptimizer resumed from sharded")

    model3, opt3 = distributed(optimizer)
    train(model3, opt3, batches[:3])
    model4, opt4 = resume(*sharded(optimizer, 2), model3.state_dict())
    opt4.load_state_dict(opt3.state_dict())
    train(model4, opt4, batches[3:])
    assert_same(flat(model4), flat(ref_model), "ShardedOptimizer resumed from distributed")


def test_sharded_state_from_another_layout_is_refused():
    model, opt = sharded("adam", 1)
    train(model, opt, data(1))
    state = opt.sharded_state_dict()
    _, other = sharded("adam", 1, cap=25)
    with pytest.raises(ValueError, match="layout"):
        other.load_state_dict(state)
    state["kolo_sharded"]["size"] += 1
    with pytest.raises(ValueError, match="size"):
        opt.load_state_dict(state)


def test_state_dict_mismatch_is_refused():
    model, opt = sharded("sgd", 1)
    _, ref = distributed("sgd")
    state = ref.state_dict()
    state["param_groups"][0]["params"] = state["param_groups"][0]["params"][:1]
    with pytest.raises(ValueError, match="has 1 parameters, the optimizer's 2"):
        opt.load_state_dict(state)
