"""The API in a world of one (no launcher): results, errors and the handle life cycle."""

import os

import numpy as np
import pytest

import kolo


def test_world_of_one_queries():
    assert kolo.is_initialized()
    assert (kolo.rank(), kolo.size()) == (0, 1)
    assert (kolo.local_rank(), kolo.local_size()) == (0, 1)
    assert (kolo.cross_rank(), kolo.cross_size()) == (0, 1)


@pytest.mark.parametrize("op", [kolo.Sum, kolo.Average, kolo.Min, kolo.Max, kolo.Product])
def test_reductions_are_identity(op):
    a = np.arange(10, dtype=np.int32).reshape(2, 5)
    np.testing.assert_array_equal(kolo.allreduce(a, op=op), a)


def test_every_collective_returns_its_input():
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_array_equal(kolo.allgather(a), a)
    np.testing.assert_array_equal(kolo.broadcast(a, 0), a)
    np.testing.assert_array_equal(kolo.alltoall(a), a)
    out, received = kolo.alltoall(a, splits=[3])
    np.testing.assert_array_equal(out, a)
    assert received.tolist() == [3]
    np.testing.assert_array_equal(kolo.reducescatter(a, op=kolo.Sum), a)
    kolo.barrier()
    assert kolo.join() == 0


def test_scale_factors():
    out = kolo.allreduce(np.array([1.0, 2.0]), op=kolo.Sum, prescale_factor=3.0,
                         postscale_factor=0.5)
    np.testing.assert_array_equal(out, [1.5, 3.0])


def test_handle_life_cycle():
    h = kolo.allreduce_async(np.ones(4), name="single.async")
    kolo.synchronize(h)
    assert kolo.poll(kolo.allgather_async(np.ones(1))) in (True, False)
    with pytest.raises(kolo.KoloError, match="already synchronized"):
        kolo.poll(h)


def test_bad_arguments_name_the_problem():
    with pytest.raises(kolo.KoloInvalidArgumentError, match="unsupported dtype bool for allreduce"):
        kolo.allreduce(np.ones(2, dtype=bool))
    with pytest.raises(kolo.KoloError) as info:
        kolo.broadcast(np.ones(2), root_rank=5, name="bad.root")
    assert "5" in str(info.value)
    with pytest.raises(ValueError, match="not registered"):
        kolo.allreduce(np.ones(1), process_set=kolo.ProcessSet([0]))


def test_shutdown_then_init_again():
    kolo.shutdown()
    assert not kolo.is_initialized()
    with pytest.raises(kolo.KoloError, match="not initialized"):
        kolo.rank()
    kolo.shutdown()  # a second shutdown is harmless
    kolo.init()
    assert kolo.size() == 1
    np.testing.assert_array_equal(kolo.allreduce(np.ones(2)), np.ones(2))


@pytest.mark.skipif(os.path.exists("/dev/nvidiactl"), reason="needs a machine without a GPU")
def test_device_index_and_stream_reach_the_runtime():
    # A buffer described as CUDA device 0 on a machine without a usable GPU: the runtime must
    # see the device (the descriptor carries it through the C ABI) and fail the op naming it,
    # and the session must go on.
    from kolo import _lib, _runtime
    a = np.ones(4, np.float32)
    ref = _runtime.TensorRef(a.ctypes.data, _lib.FLOAT32, a.shape, a, device=0, stream=1234)
    desc, _ = _runtime.describe(ref, ref)
    assert (desc.data, desc.device, desc.stream) == (a.ctypes.data, 0, 1234)
    with pytest.raises(kolo.KoloError) as info:
        _runtime.synchronize(_runtime.submit("allreduce", "device.probe", ref, ref))
    assert "device.probe" in str(info.value) and "gpu:0" in str(info.value)
    np.testing.assert_array_equal(kolo.allreduce(np.ones(2), name="after.device.probe"),
                                  np.ones(2))


def test_device_results_are_made_by_the_inputs_framework():
    """dlpack.on_device (what out-of-place ops use for CUDA inputs): torch tensors through
    torch, other types through their Array API namespace, and a clear refusal otherwise."""
    import torch
    from kolo import dlpack

    t = torch.arange(6, dtype=torch.float16).reshape(2, 3)
    empty_like, to_device = dlpack.on_device(t, "allreduce")
    out = empty_like()
    assert type(out) is torch.Tensor and out.shape == t.shape and out.dtype == t.dtype
    moved = to_device(np.arange(4, dtype=np.int32))
    assert moved.device == t.device and moved.tolist() == [0, 1, 2, 3]

    class Namespace:
        @staticmethod
        def empty_like(x):
            return ("empty_like", x.device)

        @staticmethod
        def asarray(a, device=None):
            return ("asarray", a.tolist(), device)

    class WithNamespace:
        device = "cuda:1"

        def __array_namespace__(self, api_version=None):
            return Namespace

    empty_like, to_device = dlpack.on_device(WithNamespace(), "allgather")
    assert empty_like() == ("empty_like", "cuda:1")
    assert to_device(np.array([5])) == ("asarray", [5], "cuda:1")

    class Bare:
        pass

    with pytest.raises(kolo.KoloUnsupportedError, match="allreduce_ writes in place instead"):
        dlpack.on_device(Bare(), "allreduce")
    with pytest.raises(kolo.KoloUnsupportedError, match=r"allgather of a CUDA DLPack Bare"):
        dlpack.on_device(Bare(), "allgather")
