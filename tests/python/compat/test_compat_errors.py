"""kolo.torch raises what horovod.torch raises, and no error poisons the job.

Each case below fails on every rank. The table gives the exception Horovod 0.28 raises there
(a ValueError where its C++ core reports an invalid argument, e.g. an unsupported tensor type
or a name already pending; HorovodInternalError, a RuntimeError, for a failure reported by the
coordinator, e.g. ranks disagreeing on a shape) and Kolo's own class. After every case an
allreduce must succeed with the exact result.
"""

import itertools
import re

import pytest

torch = pytest.importorskip("torch")
import kolo.torch as hvd  # noqa: E402


def _sync(handle_fn):
    return lambda: hvd.synchronize(handle_fn())


_duplicates = itertools.count()


def _duplicate(submit):
    """Submits `submit(name)` twice under one name while the first is surely pending (no other
    rank has submitted it yet: they wait at a barrier), one rank at a time; every rank's
    second submit must fail at once, and every first still completes. Raises this rank's
    error after all rounds."""
    def run():
        error = None
        case = next(_duplicates)
        for turn in range(hvd.size()):
            name = "dup.%d.%d" % (case, turn)
            if hvd.rank() == turn:
                first = submit(name)
                try:
                    submit(name)
                except Exception as e:  # noqa: BLE001 (raised below, after the rounds)
                    error = e
                hvd.barrier()
            else:
                hvd.barrier()
                first = submit(name)
            hvd.synchronize(first)
        if error is not None:
            raise error
    return run


def _by_rank(make):
    """A case whose argument differs between ranks (a mismatch)."""
    return lambda: make(hvd.rank())


# Horovod's class, then Kolo's, for each case.
V, R, T, N = ValueError, RuntimeError, TypeError, NotImplementedError
Inv, Mis, Uns = hvd.KoloInvalidArgumentError, hvd.KoloMismatchError, hvd.KoloUnsupportedError
UNSUPPORTED = "Tensor type .* is not supported"
PENDING = "submitted again before its previous"


def _tensors():
    size = hvd.size()
    return (size, torch.ones(size, 2), torch.zeros(size, dtype=torch.bool),
            torch.zeros(size, dtype=torch.complex64))


def _type_cases():
    size, f32, boolean, c64 = _tensors()
    return [
        # Tensor types horovod.torch has no kernel for: ValueError before anything is sent.
        ("allreduce bool", lambda: hvd.allreduce(boolean), V, Inv, UNSUPPORTED),
        ("allreduce complex64", lambda: hvd.allreduce(c64), V, Inv, UNSUPPORTED),
        ("allreduce_ bool", lambda: hvd.allreduce_(boolean.clone()), V, Inv, UNSUPPORTED),
        ("allreduce_async bool", _sync(lambda: hvd.allreduce_async(boolean)), V, Inv,
         UNSUPPORTED),
        ("grouped_allreduce with a bool", lambda: hvd.grouped_allreduce([f32, boolean]), V,
         Inv, UNSUPPORTED),
        ("reducescatter bool", lambda: hvd.reducescatter(boolean), V, Inv, UNSUPPORTED),
        ("grouped_reducescatter bool", lambda: hvd.grouped_reducescatter([f32, boolean]), V,
         Inv, UNSUPPORTED),
        ("allgather complex64", lambda: hvd.allgather(c64), V, Inv, UNSUPPORTED),
        ("broadcast complex128", lambda: hvd.broadcast(c64.to(torch.complex128), 0), V, Inv,
         UNSUPPORTED),
        ("broadcast_ complex64", lambda: hvd.broadcast_(c64.clone(), 0), V, Inv, UNSUPPORTED),
        ("alltoall complex64", lambda: hvd.alltoall(c64), V, Inv, UNSUPPORTED),
        ("grouped_allgather complex64", lambda: hvd.grouped_allgather([f32, c64]), V, Inv,
         UNSUPPORTED),
    ]


def _duplicate_cases():
    size, f32, boolean, c64 = _tensors()
    return [
        # A name still PENDING on this rank: ValueError at submit, as Horovod's.
        ("duplicate allreduce", _duplicate(lambda n: hvd.allreduce_async(f32, name=n)), V,
         Inv, PENDING),
        ("duplicate allgather", _duplicate(lambda n: hvd.allgather_async(f32, name=n)), V,
         Inv, PENDING),
        ("duplicate broadcast", _duplicate(lambda n: hvd.broadcast_async(f32, 0, name=n)), V,
         Inv, PENDING),
        ("duplicate alltoall", _duplicate(lambda n: hvd.alltoall_async(f32, name=n)), V, Inv,
         PENDING),
        ("duplicate reducescatter", _duplicate(lambda n: hvd.reducescatter_async(f32, name=n)),
         V, Inv, PENDING),
        ("duplicate grouped_allreduce",
         _duplicate(lambda n: hvd.grouped_allreduce_async([f32, f32], name=n)), V, Inv,
         PENDING),
    ]


def _mismatch_cases():
    size, f32, boolean, c64 = _tensors()
    return [
        # Ranks disagree: the coordinator fails the op on every rank (HorovodInternalError).
        ("allreduce shape", _by_rank(lambda r: hvd.allreduce(torch.ones(r + 1), name="m.1")),
         R, Mis, "shape"),
        ("allreduce dtype", _by_rank(lambda r: hvd.allreduce(
            torch.ones(2, dtype=torch.float32 if r else torch.float64), name="m.2")), R, Mis,
         "dtype"),
        ("allreduce op", _by_rank(lambda r: hvd.allreduce(
            f32, op=hvd.Sum if r else hvd.Max, name="m.3")), R, Mis, "op"),
        ("allreduce prescale", _by_rank(lambda r: hvd.allreduce(
            f32, prescale_factor=1.0 + r, name="m.4")), R, Mis, "prescale"),
        ("allreduce_ shape", _by_rank(lambda r: hvd.allreduce_(torch.ones(2, r + 1),
                                                               name="m.5")), R, Mis, "shape"),
        ("allgather trailing dims", _by_rank(lambda r: hvd.allgather(torch.ones(1, r + 1),
                                                                     name="m.6")), R, Mis, ""),
        ("allgather dtype", _by_rank(lambda r: hvd.allgather(
            torch.ones(1, dtype=torch.int16 if r else torch.int32), name="m.7")), R, Mis,
         "dtype"),
        ("broadcast shape", _by_rank(lambda r: hvd.broadcast(torch.ones(r + 1), 0,
                                                             name="m.8")), R, Mis, "shape"),
        ("broadcast root", _by_rank(lambda r: hvd.broadcast(f32, r % 2, name="m.9")), R, Mis,
         "root"),
        ("broadcast dtype", _by_rank(lambda r: hvd.broadcast(
            torch.ones(2, dtype=torch.uint8 if r else torch.int8), 0, name="m.10")), R, Mis,
         "dtype"),
        ("alltoall dtype", _by_rank(lambda r: hvd.alltoall(
            torch.ones(size, dtype=torch.int64 if r else torch.float64), name="m.11")), R, Mis,
         "dtype"),
        ("alltoall trailing dims", _by_rank(lambda r: hvd.alltoall(
            torch.ones(size, r + 1), name="m.12")), R, Mis, ""),
        ("reducescatter shape", _by_rank(lambda r: hvd.reducescatter(
            torch.ones(size, r + 1), name="m.13")), R, Mis, "shape"),
        ("reducescatter op", _by_rank(lambda r: hvd.reducescatter(
            f32, op=hvd.Sum if r else hvd.Average, name="m.14")), R, Mis, "op"),
        ("grouped_allreduce shape", _by_rank(lambda r: hvd.grouped_allreduce(
            [f32, torch.ones(r + 1)], name="m.15")), R, Mis, "shape"),
        ("bool broadcast vs uint8 shape", _by_rank(lambda r: hvd.broadcast(
            torch.zeros(r + 1, dtype=torch.bool), 0, name="m.16")), R, Mis, "shape"),
    ]


def _argument_cases():
    size, f32, boolean, c64 = _tensors()
    return [
        # Bad arguments.
        ("average and op", lambda: hvd.allreduce(f32, average=True, op=hvd.Sum), V, V,
         "supersedes average"),
        ("unknown op", lambda: hvd.allreduce(f32, op=42), V, V, "unknown reduce op"),
        ("reducescatter scalar", lambda: hvd.reducescatter(torch.tensor(1.0)), V, Inv, ""),
        ("allgather scalar", lambda: hvd.allgather(torch.tensor(1.0)), V, Inv, "dimension"),
        ("alltoall splits sum", lambda: hvd.alltoall(f32, splits=[size + 1] + [0] * (size - 1)),
         V, Inv, ""),
        ("alltoall splits negative", lambda: hvd.alltoall(
            f32, splits=[-1] + [1] * (size - 2) + [2]), V, Inv, ""),
        ("alltoall splits count", lambda: hvd.alltoall(f32, splits=[size] + [0] * size), V,
         Inv, ""),
        ("broadcast root too large", lambda: hvd.broadcast(f32, size), V, Inv, "root"),
        ("broadcast root negative", lambda: hvd.broadcast(f32, -1), V, Inv, "root"),
        ("grouped_allreduce empty", lambda: hvd.grouped_allreduce([]), V, V, "at least one"),
        ("grouped_allgather empty", lambda: hvd.grouped_allgather([]), V, V, "at least one"),
        ("grouped_reducescatter empty", lambda: hvd.grouped_reducescatter([]), V, V,
         "at least one"),
        ("sparse tensor", lambda: hvd.allreduce(torch.eye(2).to_sparse()), V, Inv, "sparse"),
        ("LBFGS state", lambda: hvd.broadcast_optimizer_state(
            torch.optim.LBFGS([torch.nn.Parameter(torch.ones(1))]), 0), V, V, "LBFGS"),
        ("backward_passes_per_step 0", lambda: hvd.DistributedOptimizer(
            torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1),
            backward_passes_per_step=0), V, V, "backward_passes_per_step"),
        ("predivide without Average", lambda: hvd.DistributedOptimizer(
            torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1), op=hvd.Sum,
            gradient_predivide_factor=2.0), V, V, "gradient_predivide_factor"),
        # Horovod fails inside torch (a dense tensor has no _indices()): a RuntimeError.
        ("sparse_allreduce_async dense", lambda: hvd.sparse_allreduce_async(f32, "s", hvd.Sum),
         R, Inv, "sparse COO"),
        # Kolo's own refusals: Horovod sums for any op but Average; NotImplementedError,
        # TypeError.
        ("sparse_allreduce_async Max", lambda: hvd.sparse_allreduce_async(
            torch.eye(2).to_sparse(), "s", hvd.Max), V, Inv, "Sum or Average"),
        ("not a tensor", lambda: hvd.allreduce([1.0, 2.0]), T, T, "torch.Tensor"),
        ("unknown process set", lambda: hvd.allreduce(f32, process_set=_unknown_set()), V,
         Inv, "process set"),
    ]


def _cases():
    return _type_cases() + _duplicate_cases() + _mismatch_cases() + _argument_cases()


def _unknown_set():
    ps = hvd.ProcessSet([0])
    ps.process_set_id = 99  # never registered
    return ps


def test_fifty_error_cases_in_a_row_each_followed_by_a_working_allreduce():
    rank, size = hvd.rank(), hvd.size()
    cases = _cases()
    assert len(cases) >= 50
    for i, (label, run, horovod_class, kolo_class, match) in enumerate(cases):
        try:
            run()
        except Exception as caught:  # noqa: BLE001 (the class is what is checked)
            e = caught
        else:
            pytest.fail("%s: no exception" % label)
        assert isinstance(e, horovod_class), "%s: %r is not a %s, as Horovod's is" % (
            label, e, horovod_class.__name__)
        assert isinstance(e, kolo_class), "%s: %r is not a %s" % (label, e, kolo_class.__name__)
        assert re.search(match, str(e)), "%s: %r does not match %r" % (label, str(e), match)
        out = hvd.allreduce(torch.full((3,), rank + 1.0), op=hvd.Sum, name="after.%d" % i)
        assert out.tolist() == [size * (size + 1) / 2] * 3, label
