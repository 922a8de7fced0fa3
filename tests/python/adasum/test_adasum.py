"""op=Adasum against a NumPy reference of the combination, at every world size it runs under.

The reference combines exactly as the runtime does: ranks paired at distance 1, 2, 4, ... (a
binary tree in rank order), each pair's vectors a (lower ranks) and b (upper ranks) combined as
ca * a + cb * b with ca = 1 - a.b / 2|a|^2, cb = 1 - a.b / 2|b|^2 (a coefficient is 1 where its
norm is 0), the dot product and norms in float64, the element in float64 rounded to the
tensor's dtype (float16 through float32, as the runtime rounds) after every level. The runtime
computes the same sums over vector halves held by different ranks, so only the float64 sums'
order differs: TOLERANCE bounds the difference per dtype, relative to the largest magnitude.
Results must be bit-identical on every rank. World sizes that are not powers of two must fail
with a clear error instead.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402

DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}
# Two to a few units in the last place of the result's largest element.
TOLERANCE = {np.float16: 4 * 2.0 ** -10, np.float32: 8 * 2.0 ** -23, np.float64: 1e-12}
COUNTS = [0, 1, 3, 17, 1000]


def power_of_two(n):
    return n & (n - 1) == 0


@pytest.fixture
def pow2_world():
    """Skips the test where Adasum does not run (the session starts after collection)."""
    if not power_of_two(hvd.size()):
        pytest.skip("Adasum runs on power-of-two worlds only")


def combine(a, b, dtype):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    dot, aa, bb = float(a64 @ b64), float(a64 @ a64), float(b64 @ b64)
    ca = 1.0 if aa == 0.0 else 1.0 - dot / (2.0 * aa)
    cb = 1.0 if bb == 0.0 else 1.0 - dot / (2.0 * bb)
    out = ca * a64 + cb * b64
    if dtype == np.float16:
        out = out.astype(np.float32)
    return out.astype(dtype)


def adasum_reference(arrays):
    """The result of op=Adasum over `arrays` (one flat array per rank, in rank order)."""
    vectors = list(arrays)
    while len(vectors) > 1:
        vectors = [combine(vectors[i], vectors[i + 1], arrays[0].dtype)
                   for i in range(0, len(vectors), 2)]
    return vectors[0]


def rank_input(rank, count, dtype, seed):
    """Correlated per-rank vectors (a shared direction plus rank noise), so a.b is not ~0."""
    shared = np.random.default_rng(seed).standard_normal(count)
    noise = np.random.default_rng(seed * 100 + rank + 1).standard_normal(count)
    return (shared + 0.7 * noise).astype(dtype)


def assert_close(out, ref, dtype):
    scale = max(float(np.max(np.abs(ref.astype(np.float64)))), 1.0) if ref.size else 1.0
    diff = np.abs(out.astype(np.float64) - ref.astype(np.float64))
    worst = float(diff.max()) if diff.size else 0.0
    assert worst <= TOLERANCE[dtype] * scale, "max difference %g (scale %g)" % (worst, scale)


def assert_same_everywhere(t):
    gathered = hvd.allgather(t.reshape(1, -1))
    assert all(torch.equal(gathered[0], row) for row in gathered)


@pytest.mark.parametrize("tdtype", list(DTYPES))
@pytest.mark.parametrize("count", COUNTS)
def test_allreduce_matches_reference(pow2_world, tdtype, count):
    rank, size = hvd.rank(), hvd.size()
    dtype = DTYPES[tdtype]
    seed = 7 + count
    inputs = [rank_input(r, count, dtype, seed) for r in range(size)]
    out = hvd.allreduce(torch.from_numpy(inputs[rank]), op=hvd.Adasum,
                        name="adasum.%s.%d" % (dtype.__name__, count))
    assert out.dtype == tdtype
    assert_close(out.numpy(), adasum_reference(inputs), dtype)
    assert_same_everywhere(out)


def test_special_vectors(pow2_world):
    """Identical vectors stay as they are; orthogonal ones add; a zero vector adds nothing."""
    rank, size = hvd.rank(), hvd.size()
    same = torch.arange(1.0, 9.0, dtype=torch.float64)
    assert torch.equal(hvd.allreduce(same, op=hvd.Adasum, name="adasum.same"), same)
    basis = torch.zeros(size, dtype=torch.float64)
    basis[rank] = 2.0
    assert torch.equal(hvd.allreduce(basis, op=hvd.Adasum, name="adasum.orthogonal"),
                       torch.full((size,), 2.0, dtype=torch.float64))
    zero_or_one = torch.full((5,), 3.0 if rank == 0 else 0.0, dtype=torch.float64)
    assert torch.equal(hvd.allreduce(zero_or_one, op=hvd.Adasum, name="adasum.zero"),
                       torch.full((5,), 3.0, dtype=torch.float64))


def test_grouped_allreduce_treats_each_tensor_as_its_own_vector(pow2_world):
    rank, size = hvd.rank(), hvd.size()
    shapes = [(4, 3), (7,), (2, 2, 2)]
    inputs = [[rank_input(r, int(np.prod(s)), np.float32, 40 + i) for r in range(size)]
              for i, s in enumerate(shapes)]
    tensors = [torch.from_numpy(per_rank[rank].reshape(s)) for per_rank, s in
               zip(inputs, shapes)]
    outs = hvd.grouped_allreduce(tensors, op=hvd.Adasum, name="adasum.grouped")
    for out, per_rank, s in zip(outs, inputs, shapes):
        assert out.shape == s
        assert_close(out.numpy().ravel(), adasum_reference(per_rank), np.float32)
    # In place, too.
    copies = [t.clone() for t in tensors]
    hvd.grouped_allreduce_(copies, op=hvd.Adasum, name="adasum.grouped_")
    assert all(torch.equal(c, o) for c, o in zip(copies, outs))


def test_errors_are_clear(pow2_world):
    with pytest.raises(hvd.KoloInvalidArgumentError, match="floating-point"):
        hvd.allreduce(torch.ones(4, dtype=torch.int32), op=hvd.Adasum, name="adasum.int")
    with pytest.raises(hvd.KoloError, match="allreduce only"):
        hvd.reducescatter(torch.ones(2 * hvd.size()), op=hvd.Adasum, name="adasum.rs")
    # Ranks disagreeing on the op: the usual mismatch.
    op = hvd.Adasum if hvd.rank() == 0 else hvd.Sum
    with pytest.raises(hvd.KoloMismatchError, match="reduce op"):
        hvd.allreduce(torch.ones(3), op=op, name="adasum.mismatch")
    # The session still works.
    assert torch.equal(hvd.allreduce(torch.ones(2), op=hvd.Sum, name="adasum.after"),
                       torch.full((2,), float(hvd.size())))


def test_other_world_sizes_fail_clearly():
    if power_of_two(hvd.size()):
        pytest.skip("power-of-two worlds run Adasum")
    with pytest.raises(hvd.KoloInvalidArgumentError, match="power-of-two"):
        hvd.allreduce(torch.ones(4), op=hvd.Adasum, name="adasum.np")
    with pytest.raises(hvd.KoloInvalidArgumentError, match="power-of-two"):
        hvd.grouped_allreduce([torch.ones(4), torch.ones(2)], op=hvd.Adasum, name="adasum.gnp")


def test_process_sets_of_two_and_three():
    """The power-of-two rule applies to the process set, not the world."""
    rank, size = hvd.rank(), hvd.size()
    if size < 3:
        pytest.skip("needs three ranks")
    pair = hvd.add_process_set([0, 2])
    trio = hvd.add_process_set([0, 1, 2])
    inputs = [rank_input(r, 10, np.float64, 90) for r in (0, 2)]
    if pair.included():
        mine = torch.from_numpy(inputs[0 if rank == 0 else 1])
        out = hvd.allreduce(mine, op=hvd.Adasum, name="adasum.pair", process_set=pair)
        assert_close(out.numpy(), adasum_reference(inputs), np.float64)
    if trio.included():
        with pytest.raises(hvd.KoloInvalidArgumentError, match="power-of-two"):
            hvd.allreduce(torch.ones(3), op=hvd.Adasum, name="adasum.trio", process_set=trio)
    hvd.remove_process_set(pair)
    hvd.remove_process_set(trio)


def test_distributed_optimizer_converges(pow2_world):
    """Least squares on per-rank data shards: SGD with momentum under Adasum reaches the
    solution shared by every shard, with identical parameters on every rank."""
    rank = hvd.rank()
    torch.manual_seed(0)
    true_w = torch.tensor([[1.5], [-2.0], [0.5], [3.0]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(100 + rank)
    x = torch.randn(64, 4, generator=gen, dtype=torch.float64)
    y = x @ true_w + 0.5
    model = torch.nn.Linear(4, 1).double()
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5),
                                   named_parameters=model.named_parameters(), op=hvd.Adasum)
    loss_fn = torch.nn.MSELoss()
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    final = loss_fn(model(x), y).item()
    assert final < 1e-6 * first and final < 1e-4, (first, final)
    for p in model.parameters():
        assert_same_everywhere(p.detach().clone())
    assert torch.allclose(model.weight.detach().t(), true_w, atol=1e-3)
