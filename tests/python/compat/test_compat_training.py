"""Horovod's training-side rules: the gradients of reducescatter, grouped_reducescatter and
grouped_allgather by Horovod's formulas, broadcast_optimizer_state's state initialization
(zero gradients, one step) and options given as tensors or scalars, and Horovod's warning
texts."""

import re
import warnings

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402
from kolo.torch import functions  # noqa: E402

F64 = torch.float64


@pytest.mark.parametrize("op", [hvd.Sum, hvd.Average])
@pytest.mark.parametrize("pre,post", [(1.0, 1.0), (0.5, 3.0)])
def test_reducescatter_gradient_is_horovods(op, pre, post):
    rank, size = hvd.rank(), hvd.size()
    x = torch.ones(2 * size, 3, dtype=F64, requires_grad=True)
    y = hvd.reducescatter(x, op=op, prescale_factor=pre, postscale_factor=post)
    (y * (rank + 1)).sum().backward()
    # Horovod: the output gradient times the set's size for Sum and the scale factors, then
    # allgathered; block r of the input's gradient is rank r's output gradient so scaled.
    factor = (size if op == hvd.Sum else 1) * pre * post
    want = torch.cat([torch.full((2, 3), (r + 1) * factor, dtype=F64) for r in range(size)])
    assert torch.equal(x.grad, want)


def test_grouped_reducescatter_is_differentiable_like_reducescatter():
    rank, size = hvd.rank(), hvd.size()
    a = torch.ones(size, 2, dtype=F64, requires_grad=True)
    b = torch.ones(2 * size, dtype=F64, requires_grad=True)
    ya, yb = hvd.grouped_reducescatter([a, b], op=hvd.Sum, postscale_factor=2.0)
    assert ya.requires_grad and yb.requires_grad
    ((ya * (rank + 1)).sum() + (yb * 10).sum()).backward()
    ranks = torch.arange(size, dtype=F64)
    assert torch.equal(a.grad, ((ranks + 1) * size * 2.0)[:, None].expand(-1, 2))
    assert torch.equal(b.grad, torch.full((2 * size,), 10.0 * size * 2.0, dtype=F64))


def test_grouped_allgather_is_differentiable_like_allgather():
    rank, size = hvd.rank(), hvd.size()
    a = torch.full((rank + 1, 2), 1.0, dtype=F64, requires_grad=True)
    b = torch.ones(1, dtype=F64, requires_grad=True)
    ga, gb = hvd.grouped_allgather([a, b])
    assert ga.requires_grad and gb.requires_grad
    weights = torch.arange(ga.shape[0], dtype=F64)[:, None] * (rank + 1)
    ((ga * weights).sum() + (gb * (rank + 1)).sum()).backward()
    # Horovod: the gradient averaged over the set, narrowed to this rank's rows.
    offset = sum(r + 1 for r in range(rank))
    want = torch.arange(offset, offset + rank + 1, dtype=F64)[:, None] * (size + 1) / 2
    assert torch.equal(a.grad, want.expand(-1, 2))
    assert torch.equal(b.grad, torch.full((1,), (size + 1) / 2, dtype=F64))


def _frozen_and_trainable():
    torch.manual_seed(hvd.rank())
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    for p in model[0].parameters():
        p.requires_grad_(False)
    return model


def _same_everywhere(tensor):
    gathered = hvd.allgather(tensor.detach().double().reshape(1, -1))
    return all(torch.equal(gathered[0], gathered[r]) for r in range(hvd.size()))


def test_optimizer_state_before_any_backward_gets_zero_gradients():
    rank = hvd.rank()
    model = _frozen_and_trainable()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5 + rank)
    hvd.broadcast_optimizer_state(opt, root_rank=0)
    for p in model[1].parameters():
        assert p.grad is not None and torch.equal(p.grad, torch.zeros_like(p))
    for p in model[0].parameters():
        assert p.grad is None, "a frozen parameter gets no gradient"
    state = opt.state_dict()["state"]
    assert len(state) == 2 and all("momentum_buffer" in s for s in state.values())
    assert opt.param_groups[0]["momentum"] == 0.5, "the root's scalar option"


def test_sgd_without_momentum_gets_zero_gradients_and_the_roots_options():
    # torch 1.12+ records a None momentum buffer even without momentum, so the state is not
    # empty after the first step and the options are broadcast (as with Horovod).
    model = _frozen_and_trainable()
    opt = torch.optim.SGD(model.parameters(), lr=0.1 * (hvd.rank() + 1))
    hvd.broadcast_optimizer_state(opt, root_rank=0)
    for p in model[1].parameters():
        assert torch.equal(p.grad, torch.zeros_like(p))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_an_optimizer_without_state_broadcasts_nothing():
    class Plain(torch.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.5})

        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.data.add_(p.grad, alpha=-group["lr"])

    model = _frozen_and_trainable()
    opt = Plain(model.parameters())
    opt.param_groups[0]["lr"] = float(hvd.rank())
    hvd.broadcast_optimizer_state(opt, root_rank=0)  # no collective: the state stays empty
    assert opt.state_dict()["state"] == {}
    assert opt.param_groups[0]["lr"] == float(hvd.rank()), "as Horovod: nothing is sent"
    for p in model[1].parameters():
        assert torch.equal(p.grad, torch.zeros_like(p))


def test_options_given_as_tensors_and_state_tensors_come_from_the_root():
    rank, size = hvd.rank(), hvd.size()
    model = _frozen_and_trainable()
    opt = torch.optim.Adam(model[1].parameters(), lr=torch.tensor(0.01 * (rank + 1)),
                           betas=(0.9, 0.99 - 0.01 * rank))
    if rank == size - 1:
        model(torch.ones(4, 3)).sum().backward()
        opt.step()
        opt.step()
    hvd.broadcast_optimizer_state(opt, root_rank=size - 1)
    group = opt.param_groups[0]
    assert torch.is_tensor(group["lr"]) and group["lr"].item() == pytest.approx(0.01 * size)
    assert group["betas"] == (0.9, pytest.approx(0.99 - 0.01 * (size - 1)))
    state = opt.state_dict()["state"]
    assert all(int(s["step"]) == 2 for s in state.values())
    for s in state.values():
        assert _same_everywhere(s["exp_avg"]) and _same_everywhere(s["exp_avg_sq"])


def test_distributed_optimizer_state_initializes_without_reducing():
    rank = hvd.rank()
    model = _frozen_and_trainable()
    opt = hvd.DistributedOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        named_parameters=model.named_parameters())
    if rank == 0:
        # The initialization alone, on one rank: a reducing step() would wait for the others
        # (in the barrier) forever.
        functions._initialize_state(opt, None)
        assert len(opt.state_dict()["state"]) == 2
    hvd.barrier()
    hvd.broadcast_optimizer_state(opt, root_rank=0)
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in model[1].parameters())
    assert len(opt.state_dict()["state"]) == 2


def test_horovods_warning_texts():
    model = torch.nn.Linear(2, 1)
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                   named_parameters=model.named_parameters())
    model(torch.ones(1, 2)).sum().backward()
    opt.synchronize()
    text = ("optimizer.step() called without optimizer.skip_synchronize() context after "
            "optimizer.synchronize(). This can cause training slowdown.")
    with pytest.warns(UserWarning, match=re.escape(text)):
        opt.step()
    with pytest.warns(DeprecationWarning, match=re.escape(
            "Parameter `num_groups` has been replaced by `groups` and will be removed in "
            "v0.23.0.")):
        hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), num_groups=1)
    with pytest.warns(DeprecationWarning, match=re.escape(
            "Parameter `average` has been replaced with `op` and will be removed in v1.0")):
        hvd.allreduce(torch.ones(1), average=False, name="deprecated.average")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hvd.allreduce(torch.ones(1), op=hvd.Sum, name="no.warning")
