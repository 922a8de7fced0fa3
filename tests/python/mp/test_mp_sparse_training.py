"""DistributedOptimizer over sparse gradients: an nn.Embedding(sparse=True) + Linear model
trained with sparse_as_dense=False (the sparse allreduce) and True (densified, dense
allreduce) ends with the parameters of the same model with a dense embedding, and of one
process training on the whole batch (float64, within 1e-12), with every rank bitwise equal.
"""

import copy

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402

STEPS = 4
PER_RANK = 3
VOCAB = 10
TOLERANCE = 1e-12  # float64: only the order of the gradient sums differs between the paths


class EmbeddingModel(torch.nn.Module):
    def __init__(self, sparse):
        super().__init__()
        torch.manual_seed(21)
        self.emb = torch.nn.Embedding(VOCAB, 4, sparse=sparse)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, ids):
        return self.head(self.emb(ids).mean(dim=1))


def batches(size, steps=STEPS):
    """Token ids from a few words only, so indices repeat within and across ranks."""
    g = torch.Generator().manual_seed(99)
    return [(torch.randint(0, VOCAB // 2, (PER_RANK * size, 3), generator=g),
             torch.randn(PER_RANK * size, 1, generator=g, dtype=torch.float64))
            for _ in range(steps)]


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def make_opt(params, momentum):
    return torch.optim.SGD(params, lr=0.5, momentum=momentum)


def train_distributed(mode, groups, momentum, passes=1):
    rank, size = hvd.rank(), hvd.size()
    model = EmbeddingModel(sparse=mode != "dense").double()
    opt = hvd.DistributedOptimizer(make_opt(model.parameters(), momentum),
                                   named_parameters=model.named_parameters(),
                                   sparse_as_dense=mode == "sparse_as_dense", groups=groups,
                                   backward_passes_per_step=passes)
    data = batches(size, STEPS * passes)
    for i in range(0, len(data), passes):
        opt.zero_grad()
        for x, y in data[i:i + passes]:
            mine = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
            torch.nn.functional.mse_loss(model(x[mine]), y[mine]).backward()
        opt.step()
        # As with Horovod, a sparse gradient stays sparse in both sparse modes.
        assert model.emb.weight.grad.is_sparse == (mode != "dense")
    gathered = hvd.allgather(flat(model).unsqueeze(0))
    for r in range(1, size):
        assert torch.equal(gathered[0], gathered[r]), "%s: rank %d diverged from 0" % (mode, r)
    return flat(model)


def train_reference(size, momentum, passes=1):
    model = EmbeddingModel(sparse=False).double()
    opt = make_opt(model.parameters(), momentum)
    data = batches(size, STEPS * passes)
    for i in range(0, len(data), passes):
        opt.zero_grad()
        for x, y in data[i:i + passes]:
            torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return flat(model)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("groups", [None, 1])
def test_sparse_and_sparse_as_dense_train_like_the_dense_path(groups, momentum):
    size = hvd.size()
    reference = train_reference(size, momentum)
    dense = train_distributed("dense", groups, momentum)
    torch.testing.assert_close(dense, reference, rtol=TOLERANCE, atol=TOLERANCE)
    for mode in ("sparse", "sparse_as_dense"):
        got = train_distributed(mode, groups, momentum)
        torch.testing.assert_close(got, dense, rtol=TOLERANCE, atol=TOLERANCE,
                                   msg=lambda m: "%s against the dense path: %s" % (mode, m))
    assert not torch.equal(reference, flat(EmbeddingModel(sparse=False).double()))


@pytest.mark.parametrize("mode", ["sparse", "sparse_as_dense"])
def test_backward_passes_per_step_accumulates_sparse_gradients(mode):
    reference = train_reference(hvd.size(), 0.0, passes=2)
    got = train_distributed(mode, None, 0.0, passes=2)
    torch.testing.assert_close(got, reference, rtol=TOLERANCE, atol=TOLERANCE)


def test_sparse_gradient_is_reduced_by_the_sparse_allreduce():
    """The sparse path's p.grad is the uncoalesced concatenation of every rank's entries,
    averaged: Horovod's sparse_allreduce_async result."""
    rank, size = hvd.rank(), hvd.size()
    model = EmbeddingModel(sparse=True).double()
    opt = hvd.DistributedOptimizer(make_opt(model.parameters(), 0.0),
                                   named_parameters=model.named_parameters())
    ids = torch.tensor([[rank % VOCAB] * (rank + 1)])  # rank r: one row, r+1 repeated ids
    model(ids).sum().backward()
    local = copy.deepcopy(model.emb.weight.grad)
    opt.synchronize()
    grad = model.emb.weight.grad
    assert grad.is_sparse and grad._nnz() == sum(r + 1 for r in range(size))
    everyone = hvd.allgather(local.to_dense().unsqueeze(0))
    torch.testing.assert_close(grad.to_dense(), everyone.mean(dim=0), rtol=TOLERANCE,
                               atol=TOLERANCE)
    with opt.skip_synchronize():
        opt.step()
