"""ShardedOptimizer's refusals: optimizers whose state is not per parameter element, bad
arguments, and misuse between backward and step."""

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402
from sharded_common import data, make_model, train  # noqa: E402


def test_lbfgs_is_refused():
    model = make_model()
    with pytest.raises(hvd.KoloUnsupportedError, match="LBFGS.*per parameter element"):
        hvd.ShardedOptimizer(torch.optim.LBFGS(model.parameters()))


class _NormScaled(torch.optim.SGD):
    """An SGD that keeps the norm of each parameter's update history as a 1-element tensor:
    state that is not per element, which a shard cannot reproduce."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["norms"] = torch.stack([p.grad.norm(), p.grad.norm()])
        return super().step(closure)


def test_state_that_is_not_per_element_is_named():
    model = make_model()
    opt = hvd.ShardedOptimizer(_NormScaled(model.parameters(), lr=0.1), stage=1)
    with pytest.raises(hvd.KoloUnsupportedError, match="_NormScaled.*'norms'.*shape \\[2\\]"):
        train(model, opt, data(1))


@pytest.mark.parametrize("stage", [0, 3])
def test_stage_must_be_1_or_2(stage):
    with pytest.raises(ValueError, match="stage must be 1"):
        hvd.ShardedOptimizer(torch.optim.SGD(make_model().parameters(), lr=0.1), stage=stage)


def test_state_dict_needs_consolidation():
    opt = hvd.ShardedOptimizer(torch.optim.SGD(make_model().parameters(), lr=0.1))
    with pytest.raises(RuntimeError, match="consolidate_state_dict\\(to=%d\\)" % hvd.rank()):
        opt.state_dict()


def test_zero_grad_between_backward_and_step():
    model = make_model()
    opt = hvd.ShardedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), bucket_cap_mb=25)
    x, y = data(1)[0]
    torch.nn.functional.mse_loss(model(x), y).backward()
    with pytest.raises(AssertionError, match="zero_grad"):
        opt.zero_grad()
    opt.step()  # the reducescatters in flight complete on every rank


def test_broadcast_optimizer_state_sends_options_only():
    model = make_model()
    opt = hvd.ShardedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1 * (hvd.rank() + 1)))
    hvd.broadcast_optimizer_state(opt, root_rank=0)
    assert opt.param_groups[0]["lr"] == 0.1
    assert not opt._local.state
