"""Shared pieces of the ShardedOptimizer suites: a model with uneven parameter sizes (none of
its bucket lengths divides 2 or 3), per-rank data, and the reference run through
DistributedOptimizer.

Tolerance: on 2 ranks the reduction is a single addition of two values (commutative) divided
by 2 (exact), so reducescatter and allreduce agree bitwise and so do the parameters. On 3 ranks
Kolo's reducescatter adds a slice's three values in a different order than its allreduce does
((a+b)+c against (b+c)+a), which rounds differently in the last bit; the parameters then agree
to float32 rounding only: rtol 1e-5, atol 1e-6 after a few steps. RMSprop's momentum buffer
(the sum of g / sqrt(mean g^2) over steps) divides by small running averages, which magnifies
that last-bit difference about tenfold: its state is held to rtol 1e-4, atol 1e-5 there.
"""

import torch

import kolo.torch as hvd

STEPS = 4
PER_RANK = 3


class UnevenNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(7, 13)
        self.b = torch.nn.Linear(13, 5)
        self.scale = torch.nn.Parameter(torch.tensor(1.5))  # a 0-d parameter
        self.c = torch.nn.Linear(5, 3)
        self.unused = torch.nn.Linear(3, 3)  # never in forward: zero gradients everywhere

    def forward(self, x):
        return self.c(torch.tanh(self.b(torch.tanh(self.a(x)))) * self.scale)


def make_model(dtype=torch.float32):
    torch.manual_seed(7)
    return UnevenNet().to(dtype)


def param_groups(model):
    """Two groups with different options, so buckets never mix groups."""
    rest = [p for n, p in model.named_parameters() if not n.startswith("a.")]
    return [{"params": list(model.a.parameters()), "lr": 0.05}, {"params": rest}]


OPTIMIZERS = {
    "sgd": lambda groups: torch.optim.SGD(groups, lr=0.1, momentum=0.9, weight_decay=0.01),
    "adam": lambda groups: torch.optim.Adam(groups, lr=0.01),
    "adamw": lambda groups: torch.optim.AdamW(groups, lr=0.01, weight_decay=0.1),
    # Adagrad creates its state at construction, which ShardedOptimizer splits. (Not with
    # initial_accumulator_value != 0 here: DistributedOptimizer, like Horovod's, re-runs
    # Adagrad's constructor, which resets the sums to the default 0.)
    "adagrad": lambda groups: torch.optim.Adagrad(groups, lr=0.01),
    "rmsprop": lambda groups: torch.optim.RMSprop(groups, lr=0.01, momentum=0.5),
}


def data(steps=STEPS, dtype=torch.float32):
    g = torch.Generator().manual_seed(1000 + hvd.rank())
    return [(torch.randn(PER_RANK, 7, generator=g).to(dtype),
             torch.randn(PER_RANK, 3, generator=g).to(dtype)) for _ in range(steps)]


def train(model, opt, batches):
    for x, y in batches:
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def assert_same(actual, expected, what, rtol=1e-5, atol=1e-6):
    """Bitwise on 2 ranks, float32 rounding on 3 (see the module docstring)."""
    if hvd.size() <= 2:
        assert torch.equal(actual, expected), "%s differs: max |diff| %g" % (
            what, (actual - expected).abs().max().item())
    else:
        torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol,
                                   msg=lambda detail: "%s: %s" % (what, detail))


def assert_ranks_agree(model):
    params = hvd.allgather(flat(model).unsqueeze(0), name="sharded.agree")
    for r in range(1, hvd.size()):
        assert torch.equal(params[0], params[r]), "rank %d's parameters differ from rank 0's" % r
