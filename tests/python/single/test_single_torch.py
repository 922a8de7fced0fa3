"""kolo.torch in a world of one: Horovod's names, defaults and documented refusals."""

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402

HOROVOD_NAMES = [
    "init", "shutdown", "is_initialized", "size", "local_size", "cross_size", "rank",
    "local_rank", "cross_rank", "is_homogeneous", "mpi_threads_supported", "mpi_enabled",
    "mpi_built", "gloo_enabled", "gloo_built", "nccl_built", "ddl_built", "ccl_built",
    "cuda_built", "rocm_built", "start_timeline", "stop_timeline", "allreduce",
    "allreduce_async", "allreduce_", "allreduce_async_", "grouped_allreduce",
    "grouped_allreduce_async", "grouped_allreduce_", "grouped_allreduce_async_", "allgather",
    "allgather_async", "grouped_allgather", "grouped_allgather_async", "broadcast",
    "broadcast_async", "broadcast_", "broadcast_async_", "alltoall", "alltoall_async",
    "reducescatter", "reducescatter_async", "grouped_reducescatter",
    "grouped_reducescatter_async", "sparse_allreduce_async", "join", "barrier", "poll",
    "synchronize", "Average", "Sum", "Adasum", "Min", "Max", "Product", "Compression",
    "DistributedOptimizer", "broadcast_parameters", "broadcast_optimizer_state",
    "broadcast_object", "allgather_object", "SyncBatchNorm", "ProcessSet",
    "global_process_set", "add_process_set", "remove_process_set", "HorovodInternalError",
    "HostsUpdatedInterrupt",
]


@pytest.mark.parametrize("name", HOROVOD_NAMES)
def test_horovod_name_exists(name):
    assert hasattr(hvd, name)


def test_build_queries():
    assert hvd.mpi_built() is False and hvd.gloo_built() is False
    assert not hvd.nccl_built() and hvd.cuda_built() is False
    assert hvd.mpi_threads_supported() is False


def test_unsupported_features_name_themselves():
    with pytest.raises(hvd.KoloUnsupportedError, match="start_timeline"):
        hvd.start_timeline("/tmp/timeline.json")
    with pytest.raises(hvd.KoloUnsupportedError, match="Adasum"):
        hvd.allreduce(torch.ones(1), op=hvd.Adasum)
    with pytest.raises(hvd.KoloUnsupportedError, match="sparse"):
        hvd.sparse_allreduce_async(torch.ones(1), "s", hvd.Sum)
    with pytest.raises(hvd.KoloInvalidArgumentError, match="unsupported dtype torch.bool"):
        hvd.allreduce(torch.ones(2, dtype=torch.bool))
    with pytest.raises(hvd.KoloInvalidArgumentError, match="unsupported dtype torch.int16"):
        hvd.allreduce(torch.ones(2, dtype=torch.int16))


def test_tensor_ops_in_world_of_one():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert torch.equal(hvd.allreduce(t), t)
    assert torch.equal(hvd.allgather(t), t)
    assert torch.equal(hvd.broadcast(t, 0), t)
    assert torch.equal(hvd.alltoall(t), t)
    assert torch.equal(hvd.reducescatter(t), t)
    b = torch.bfloat16
    assert torch.equal(hvd.allreduce(t.to(b), op=hvd.Sum, postscale_factor=2.0), (t * 2).to(b))
    assert hvd.broadcast_object([1, "two"], 0) == [1, "two"]
    assert hvd.allgather_object({"x": 1}) == [{"x": 1}]
    assert hvd.join() == 0
    hvd.barrier()


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
