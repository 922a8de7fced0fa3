"""DistributedDataParallel against one process training on the whole batch, shared by the DDP
tests (tests/python/mp/test_mp_ddp.py, tests/python/tdist/test_tdist_groups.py)."""

import copy

import torch


def train_ddp_and_reference(rank, size, seed, ddp_kwargs=None, opt_kwargs=None, each_step=None,
                            steps=3):
    """Builds a small float64 MLP (seeded per rank, so DDP's broadcast matters), wraps it in DDP
    (`ddp_kwargs`), copies it as the one-process reference, and trains both `steps` steps with
    SGD (`opt_kwargs`): DDP on this rank's 4 rows of each global batch of 4 * size, the
    reference on the whole batch. `each_step(model)` runs after every step. Returns (model,
    reference)."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(),
                                torch.nn.Linear(7, 3)).double()
    ddp = torch.nn.parallel.DistributedDataParallel(model, **(ddp_kwargs or {}))
    reference = copy.deepcopy(model)  # after DDP's broadcast: the group's rank 0 parameters
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1, **(opt_kwargs or {}))
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1, **(opt_kwargs or {}))
    data = torch.Generator().manual_seed(7)
    for _ in range(steps):
        x = torch.randn(4 * size, 5, generator=data, dtype=torch.float64)
        y = torch.randn(4 * size, 3, generator=data, dtype=torch.float64)
        mine = slice(4 * rank, 4 * rank + 4)
        opt.zero_grad()
        torch.nn.functional.mse_loss(ddp(x[mine]), y[mine]).backward()
        opt.step()
        ref_opt.zero_grad()
        torch.nn.functional.mse_loss(reference(x), y).backward()
        ref_opt.step()
        if each_step is not None:
            each_step(model)
    return model, reference
