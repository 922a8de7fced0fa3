"""kolo.torch in a world of one: Horovod's names, signatures, defaults and documented refusals."""

import inspect
import json
import os

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402

# Every public name horovod.torch 0.28 exports (its __init__ imports), plus is_homogeneous and
# the elastic exception, which Horovod scripts reach through the same module.
HOROVOD_NAMES = [
    "elastic", "Compression", "allgather_object", "broadcast_object",
    "broadcast_optimizer_state", "broadcast_parameters", "allreduce", "allreduce_async",
    "allreduce_", "allreduce_async_", "grouped_allreduce", "grouped_allreduce_async",
    "grouped_allreduce_", "grouped_allreduce_async_", "sparse_allreduce_async", "allgather",
    "allgather_async", "grouped_allgather", "grouped_allgather_async", "broadcast",
    "broadcast_async", "broadcast_", "broadcast_async_", "alltoall", "alltoall_async",
    "reducescatter", "reducescatter_async", "grouped_reducescatter",
    "grouped_reducescatter_async", "join", "barrier", "poll", "synchronize", "init", "shutdown",
    "is_initialized", "start_timeline", "stop_timeline", "size", "local_size", "cross_size",
    "rank", "local_rank", "cross_rank", "is_homogeneous", "mpi_threads_supported",
    "mpi_enabled", "mpi_built", "gloo_enabled", "gloo_built", "nccl_built", "ddl_built",
    "ccl_built", "cuda_built", "rocm_built", "ProcessSet", "global_process_set",
    "add_process_set", "remove_process_set", "Average", "Sum", "Adasum", "Min", "Max",
    "Product", "HorovodInternalError", "HostsUpdatedInterrupt", "DistributedOptimizer",
    "SyncBatchNorm",
]

_ALLREDUCE = ("tensor, average=None, name=None, op=None, prescale_factor=1.0, "
              "postscale_factor=1.0, process_set=global_process_set")
_GROUPED_ALLREDUCE = _ALLREDUCE.replace("tensor,", "tensors,")
_BROADCAST = "tensor, root_rank, name=None, process_set=global_process_set"
_REDUCESCATTER_ASYNC = ("tensor, name=None, op=Average, process_set=global_process_set, "
                        "prescale_factor=1.0, postscale_factor=1.0")

# horovod.torch 0.28's signatures. Kolo's must start with exactly these parameters (names,
# order, kinds, defaults); it may add trailing parameters that have defaults.
HOROVOD_SIGNATURES = {
    "allreduce": _ALLREDUCE.replace("name=None,", "name=None, compression=Compression.none,"),
    "allreduce_async": _ALLREDUCE,
    "allreduce_": _ALLREDUCE,
    "allreduce_async_": _ALLREDUCE,
    "grouped_allreduce": _GROUPED_ALLREDUCE.replace("name=None,",
                                                    "name=None, compression=Compression.none,"),
    "grouped_allreduce_async": _GROUPED_ALLREDUCE,
    "grouped_allreduce_": _GROUPED_ALLREDUCE,
    "grouped_allreduce_async_": _GROUPED_ALLREDUCE,
    "sparse_allreduce_async": "tensor, name, op, process_set=global_process_set",
    "allgather": "tensor, name=None, process_set=global_process_set",
    "allgather_async": "tensor, name=None, process_set=global_process_set",
    "grouped_allgather": "tensors, name=None, process_set=global_process_set",
    "grouped_allgather_async": "tensors, name=None, process_set=global_process_set",
    "broadcast": _BROADCAST,
    "broadcast_async": _BROADCAST,
    "broadcast_": _BROADCAST,
    "broadcast_async_": _BROADCAST,
    "alltoall": "tensor, splits=None, name=None, process_set=global_process_set",
    "alltoall_async": "tensor, splits=None, name=None, process_set=global_process_set",
    "reducescatter": _REDUCESCATTER_ASYNC.replace("name=None,",
                                                  "name=None, compression=Compression.none,"),
    "reducescatter_async": _REDUCESCATTER_ASYNC,
    "grouped_reducescatter": _REDUCESCATTER_ASYNC.replace(
        "tensor, name=None,", "tensors, name=None, compression=Compression.none,"),
    "grouped_reducescatter_async": _REDUCESCATTER_ASYNC.replace("tensor,", "tensors,"),
    "join": "device=-1",
    "barrier": "process_set=global_process_set",
    "poll": "handle",
    "synchronize": "handle",
    "init": "comm=None, process_sets=None",
    "shutdown": "",
    "is_initialized": "",
    "start_timeline": "file_path, mark_cycles=False",
    "stop_timeline": "",
    "size": "", "local_size": "", "cross_size": "", "rank": "", "local_rank": "",
    "cross_rank": "", "is_homogeneous": "", "mpi_threads_supported": "", "mpi_enabled": "",
    "mpi_built": "", "gloo_enabled": "", "gloo_built": "", "nccl_built": "", "ddl_built": "",
    "ccl_built": "", "cuda_built": "", "rocm_built": "",
    "broadcast_parameters": "params, root_rank",
    "broadcast_optimizer_state": "optimizer, root_rank, model=None",
    "broadcast_object": "obj, root_rank=0, name=None, process_set=global_process_set",
    "allgather_object": "obj, name=None, process_set=global_process_set",
    "DistributedOptimizer": ("optimizer, named_parameters=None, compression=Compression.none, "
                             "backward_passes_per_step=1, op=Average, "
                             "gradient_predivide_factor=1.0, num_groups=0, groups=None, "
                             "sparse_as_dense=False, process_set=global_process_set"),
    "add_process_set": "process_set",
    "remove_process_set": "process_set",
}
CLASS_SIGNATURES = {
    "SyncBatchNorm": "num_features, eps=1e-5, momentum=0.1, affine=True, "
                     "track_running_stats=True",
    "ProcessSet": "ranks_or_comm",
}


def expected_signature(params):
    namespace = {"Compression": hvd.Compression, "global_process_set": hvd.global_process_set,
                 "Average": hvd.Average}
    return inspect.signature(eval("lambda %s: None" % params, namespace))


def assert_starts_with(name, actual, expected):
    got = list(actual.parameters.values())
    want = list(expected.parameters.values())
    assert len(got) >= len(want), "%s%s lacks Horovod's %s" % (name, actual, expected)
    for g, w in zip(got, want):
        assert g.name == w.name, "%s: parameter %s where Horovod has %s" % (name, g, w)
        assert g.kind == w.kind, "%s: %s is %s, Horovod's is %s" % (name, g, g.kind, w.kind)
        if w.default is not inspect.Parameter.empty:
            assert g.default is w.default or g.default == w.default, \
                "%s: %s defaults to %r, Horovod's to %r" % (name, g.name, g.default, w.default)
    for extra in got[len(want):]:
        assert extra.default is not inspect.Parameter.empty, \
            "%s: extra parameter %s has no default" % (name, extra)


def test_every_horovod_name_is_exported():
    missing = [n for n in HOROVOD_NAMES if not hasattr(hvd, n)]
    assert not missing, "kolo.torch lacks %s" % missing
    assert not [n for n in HOROVOD_NAMES if n not in hvd.__all__]


@pytest.mark.parametrize("name", sorted(HOROVOD_SIGNATURES))
def test_function_signatures_match_horovod(name):
    assert_starts_with(name, inspect.signature(getattr(hvd, name)),
                       expected_signature(HOROVOD_SIGNATURES[name]))


@pytest.mark.parametrize("name", sorted(CLASS_SIGNATURES))
def test_class_signatures_match_horovod(name):
    actual = inspect.signature(getattr(hvd, name).__init__)
    params = list(actual.parameters.values())[1:]  # without self
    expected = expected_signature(CLASS_SIGNATURES[name])
    # Kolo's ProcessSet() (no ranks) means every rank, so its one argument has a default.
    if name == "ProcessSet":
        assert [p.name for p in params] == ["ranks_or_comm"]
        return
    assert_starts_with(name, actual.replace(parameters=params), expected)


def test_defaults_behave_as_horovod():
    t = torch.tensor([4.0])
    # allreduce's default op is Average, reducescatter's too; average=False means Sum.
    assert inspect.signature(hvd.reducescatter).parameters["op"].default == hvd.Average
    assert torch.equal(hvd.allreduce(t), t)
    assert torch.equal(hvd.allreduce(t, average=False), t)
    with pytest.raises(ValueError, match="supersedes average"):
        hvd.allreduce(t, average=True, op=hvd.Sum)
    assert len({hvd.Average, hvd.Sum, hvd.Adasum, hvd.Min, hvd.Max, hvd.Product}) == 6
    assert hvd.Compression.none.compress(t) == (t, None)
    assert hvd.HorovodInternalError is hvd.KoloError
    assert issubclass(hvd.HostsUpdatedInterrupt, hvd.KoloError)
    assert hvd.global_process_set.process_set_id == 0 and hvd.global_process_set.included()


def test_build_queries_report_the_build():
    # ctest passes what CMake configured, e.g. "mpi=ON,cuda=OFF,nccl=OFF".
    configured = os.environ.get("KOLO_TEST_BUILD")
    if configured is None:
        pytest.skip("KOLO_TEST_BUILD is set by ctest")
    flags = dict(kv.split("=") for kv in configured.split(","))
    on = {k: v.upper() in ("ON", "1", "TRUE", "YES") for k, v in flags.items()}
    assert hvd.mpi_built() is on["mpi"]
    assert hvd.cuda_built() is on["cuda"]
    assert isinstance(hvd.nccl_built(), int)
    assert (hvd.nccl_built() >= 21800) if on["nccl"] else hvd.nccl_built() == 0
    assert hvd.gloo_built() is False and hvd.ddl_built() is False
    assert hvd.ccl_built() is False and hvd.rocm_built() is False
    assert hvd.mpi_enabled() is False and hvd.gloo_enabled() is False
    assert hvd.mpi_threads_supported() is False
    assert hvd.is_homogeneous() is True


def test_adasum_of_one_rank_is_its_input():
    t = torch.tensor([1.0, -2.0, 3.5])
    assert torch.equal(hvd.allreduce(t, op=hvd.Adasum), t)
    group = [torch.ones(2), torch.arange(3.0)]
    assert all(torch.equal(a, b) for a, b in
               zip(hvd.grouped_allreduce(group, op=hvd.Adasum), group))
    with pytest.raises(hvd.KoloInvalidArgumentError, match="floating-point"):
        hvd.allreduce(torch.ones(2, dtype=torch.int64), op=hvd.Adasum)


def test_unsupported_features_name_themselves():
    with pytest.raises(hvd.KoloUnsupportedError, match="MPI communicator"):
        hvd.init(comm=object())
    with pytest.raises(hvd.KoloUnsupportedError, match="MPI communicators"):
        hvd.ProcessSet(object())


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_unsupported_dtypes_are_rejected_naming_the_dtype(dtype):
    for fn in (hvd.allreduce, hvd.allgather, lambda t: hvd.broadcast_(t, 0), hvd.alltoall,
               hvd.reducescatter):
        # Horovod's ValueError text first, then Kolo's detail naming the dtype.
        with pytest.raises(ValueError, match="Tensor type .* is not supported.*got %s" % dtype):
            fn(torch.zeros(2, dtype=dtype))


def test_bool_moves_but_does_not_reduce():
    t = torch.tensor([True, False, True])
    assert torch.equal(hvd.allgather(t), t)
    assert torch.equal(hvd.broadcast(t, 0), t)
    assert torch.equal(hvd.alltoall(t), t)
    for fn in (hvd.allreduce, hvd.reducescatter, lambda x: hvd.grouped_allreduce([x])):
        with pytest.raises(hvd.KoloInvalidArgumentError,
                           match="Tensor type torch.BoolTensor is not supported"):
            fn(t)


def test_tensor_ops_in_world_of_one():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert torch.equal(hvd.allreduce(t), t)
    assert torch.equal(hvd.allgather(t), t)
    assert torch.equal(hvd.broadcast(t, 0), t)
    assert torch.equal(hvd.alltoall(t), t)
    out, received = hvd.synchronize(hvd.alltoall_async(t))
    assert torch.equal(out, t) and received.tolist() == [2]
    assert torch.equal(hvd.reducescatter(t), t)
    b = torch.bfloat16
    assert torch.equal(hvd.allreduce(t.to(b), op=hvd.Sum, postscale_factor=2.0), (t * 2).to(b))
    assert hvd.broadcast_object([1, "two"], 0) == [1, "two"]
    assert hvd.allgather_object({"x": 1}) == [{"x": 1}]
    assert hvd.join() == 0
    hvd.barrier()
    params = [torch.ones(2), torch.zeros(3)]
    hvd.broadcast_parameters(params, root_rank=0)  # bare tensors, as model.parameters() gives
    assert torch.equal(params[0], torch.ones(2))


def test_timeline_starts_and_stops_at_run_time(tmp_path):
    path = tmp_path / "timeline.json"
    hvd.stop_timeline()  # none open: a no-op
    hvd.start_timeline(str(path), mark_cycles=True)
    hvd.start_timeline(str(path))  # the same path again: a no-op
    with pytest.raises(hvd.KoloError, match="already being written to"):
        hvd.start_timeline(str(tmp_path / "other.json"))
    hvd.allreduce(torch.ones(3), name="timeline.op")
    hvd.allgather(torch.ones(1), name="timeline.gather")
    hvd.barrier()  # a later cycle: the events of the ops above are written by now
    hvd.stop_timeline()
    events = json.loads(path.read_text())
    rows = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert {"allreduce.timeline.op", "allgather.timeline.gather"} <= rows
    names = {e["name"] for e in events}
    assert {"ALLREDUCE", "ALLGATHER", "WAIT_FOR_PEERS"} <= names
    assert any(n.startswith("CYCLE ") for n in names), "mark_cycles=True marks cycles"
    hvd.stop_timeline()  # stopped twice: a no-op
    hvd.allreduce(torch.ones(3), name="after.stop")
    assert json.loads(path.read_text()) == events, "nothing is written after stop"


def test_optimizer_argument_checks():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="duplicate"):
        hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                 named_parameters=[("w", model.weight), ("w", model.bias)])
    with pytest.raises(ValueError, match="gradient_predivide_factor"):
        hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), op=hvd.Sum,
                                 gradient_predivide_factor=2.0)


def test_zero_grad_between_backward_and_step_is_an_error():
    model = torch.nn.Linear(2, 1)
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                   named_parameters=model.named_parameters(),
                                   gradient_predivide_factor=2.0)
    model(torch.ones(3, 2)).sum().backward()
    with pytest.raises(AssertionError, match="zero_grad"):
        opt.zero_grad()
    opt.step()
    torch.testing.assert_close(model.bias.grad, torch.tensor([3.0]))


def test_zz_queries_need_init_then_init_again_with_process_sets():
    hvd.shutdown()
    assert not hvd.is_initialized()
    for query in (hvd.rank, hvd.size, hvd.is_homogeneous, hvd.stop_timeline,
                  lambda: hvd.start_timeline("/nonexistent/never.json")):
        with pytest.raises(ValueError, match="not been initialized"):
            query()
    with pytest.raises(hvd.KoloUnsupportedError, match="subset of ranks"):
        hvd.init(comm=[0, 1])
    assert not hvd.is_initialized(), "a refused init leaves Kolo shut down"
    ps = hvd.ProcessSet([0])
    hvd.init(comm=[0], process_sets=[ps])
    assert hvd.is_initialized() and ps.process_set_id not in (None, 0)
    assert hvd.allreduce(torch.tensor([2.0]), op=hvd.Sum, process_set=ps).item() == 2.0
    assert hvd.remove_process_set(ps)
