"""Horovod-style data-parallel training: `import kolo.torch as hvd`, DistributedOptimizer and
broadcast_parameters. Each rank trains on its slice of every batch; the parameters must stay
bitwise identical across ranks and match one process training on the whole batch."""

import copy

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402

STEPS = 5
PER_RANK = 4


def make_model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def batches(size):
    g = torch.Generator().manual_seed(1234)
    return [(torch.randn(PER_RANK * size, 6, generator=g, dtype=torch.float64),
             torch.randn(PER_RANK * size, 2, generator=g, dtype=torch.float64))
            for _ in range(STEPS)]


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@pytest.mark.parametrize("compression", ["none", "fp16"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_distributed_training_matches_single_process(optimizer, compression):
    rank, size = hvd.rank(), hvd.size()
    model = make_model(seed=100 + rank).double()  # different start: broadcast must fix it
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    reference = copy.deepcopy(model)

    def make_opt(params):
        if optimizer == "sgd":
            return torch.optim.SGD(params, lr=0.1, momentum=0.9)
        return torch.optim.Adam(params, lr=0.01)
    opt = hvd.DistributedOptimizer(make_opt(model.parameters()),
                                   named_parameters=model.named_parameters(),
                                   compression=getattr(hvd.Compression, compression))
    hvd.broadcast_optimizer_state(opt, root_rank=0)
    ref_opt = make_opt(reference.parameters())
    # As Horovod's, broadcast_optimizer_state created the empty state with one step on zero
    # gradients (Adam counts it); the reference starts the same way.
    for p in reference.parameters():
        p.grad = torch.zeros_like(p)
    ref_opt.step()
    assert isinstance(opt, type(ref_opt))
    loss_fn = torch.nn.MSELoss()
    for x, y in batches(size):
        opt.zero_grad()
        mine = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
        loss_fn(model(x[mine]), y[mine]).backward()
        opt.step()
        ref_opt.zero_grad()
        loss_fn(reference(x), y).backward()
        ref_opt.step()
        params = hvd.allgather(flat(model).unsqueeze(0))
        for r in range(1, size):
            assert torch.equal(params[0], params[r]), "rank %d diverged from rank 0" % r
    tolerance = 1e-9 if compression == "none" else 5e-3
    torch.testing.assert_close(flat(model), flat(reference), rtol=tolerance, atol=tolerance)


def test_backward_passes_per_step_accumulates_locally():
    rank, size = hvd.rank(), hvd.size()
    model = make_model(seed=5).double()
    reference = copy.deepcopy(model)
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.05),
                                   named_parameters=model.named_parameters(),
                                   backward_passes_per_step=2)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.05)
    data = batches(size)
    for i in range(0, 4, 2):
        opt.zero_grad()
        ref_opt.zero_grad()
        for x, y in data[i:i + 2]:
            mine = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
            torch.nn.functional.mse_loss(model(x[mine]), y[mine]).backward()
            torch.nn.functional.mse_loss(reference(x), y).backward()
        opt.step()
        ref_opt.step()
    torch.testing.assert_close(flat(model), flat(reference), rtol=1e-9, atol=1e-9)


def test_synchronize_then_skip_synchronize_and_unsupported():
    model = make_model(seed=9)
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                   named_parameters=model.named_parameters())
    model(torch.ones(2, 6)).sum().backward()
    # The hooks started every gradient's allreduce during backward, before step().
    assert len(opt._handles) == 4 and all(h is not None for h, _ in opt._handles.values())
    opt.synchronize()
    expected = [p.grad.clone() for p in model.parameters()]
    with opt.skip_synchronize():
        opt.step()
    assert all(torch.equal(p.grad, e) for p, e in zip(model.parameters(), expected))


@pytest.mark.parametrize("groups", ["count", "lists"])
def test_grouped_gradients_match_single_process(groups):
    rank, size = hvd.rank(), hvd.size()
    model = make_model(seed=11).double()
    reference = copy.deepcopy(model)
    params = list(model.parameters())
    spec = 2 if groups == "count" else [[params[0], params[3]], [params[1]]]
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                   named_parameters=model.named_parameters(), groups=spec)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    for x, y in batches(size)[:3]:
        opt.zero_grad()
        ref_opt.zero_grad()
        mine = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
        torch.nn.functional.mse_loss(model(x[mine]), y[mine]).backward()
        if groups == "count":
            # Both groups completed during backward, so both were already submitted.
            assert all(h is not None for h, _ in opt._handles.values())
        opt.step()
        torch.nn.functional.mse_loss(reference(x), y).backward()
        ref_opt.step()
    torch.testing.assert_close(flat(model), flat(reference), rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="two groups"):
        hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                 named_parameters=model.named_parameters(),
                                 groups=[[params[0]], [params[0]]])
