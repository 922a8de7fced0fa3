"""Work objects of the kolo torch.distributed backend: asynchronous completion of Kolo ops.

Every op of ProcessGroupKolo submits Kolo's asynchronous collectives and returns at once with
a Work over one `Completion` (the op's Kolo handles, a finish step that copies results into
the caller's tensors, and the group timeout):

- called by torch.distributed's Python functions (dist.all_reduce, ...) or by other Python
  code, the Work is `KoloWork`, a Python subclass of torch's Work: wait() blocks and raises
  the op's Kolo error (its class kept, the message naming the torch.distributed op),
  is_completed() polls without blocking, get_future() gives a torch Future.
- called from C++ (DistributedDataParallel's reducer, _broadcast_coalesced), the Work is
  torch's future-wrapping Work (torch 1.13 cannot call a Python Work's methods from C++)
  over the Completion's Future, whose value() raises the error.

A Future is completed by one daemon thread per process (`_Completer`) that waits for the
Completions asked for one, in submission order, so DDP's bucket allreduces run while backward
goes on. The group timeout (init_process_group(timeout=...), new_group(timeout=...)) counts
from submission: an op not done by then fails with KoloTimeoutError naming the op (Kolo's own
op timeout, KOLO_TIMEOUT_SECONDS, usually fires first and fails the op on every rank).

Thread: any Python thread; a Completion is waited for by one thread at a time (its lock).
"""

import os
import queue
import sys
import threading
import time

import torch
import torch.distributed as dist

from .. import _runtime
from ..errors import KoloError, KoloTimeoutError
from .handles import GroupHandle, poll, synchronize

_create_work_from_future = getattr(torch._C._distributed_c10d, "_create_work_from_future",
                                   None)
_C10D_FILE = os.path.splitext(dist.distributed_c10d.__file__)[0]
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep


def _keys(handle):
    return handle.handles if isinstance(handle, GroupHandle) else [handle]


def named_error(op, error):
    """`error` (a KoloError) again, its message naming the torch.distributed op."""
    message = "torch.distributed %s (kolo backend): %s" % (op, error)
    if not isinstance(error, KoloError):
        return KoloError("%s (%s)" % (message, type(error).__name__), "KOLO_INTERNAL")
    try:
        return type(error)(message, getattr(error, "status", "KOLO_INTERNAL"))
    except TypeError:
        return KoloError(message, getattr(error, "status", "KOLO_INTERNAL"))


class Completion:
    """One torch.distributed op in flight: its Kolo handles, `finish(results)` (run once
    they are all done, on the thread that completes the op), the op's result tensors and its
    deadline."""

    def __init__(self, op, handles, finish, result, timeout_seconds):
        self.op = op
        self.handles = list(handles)
        self.finish = finish
        self.result = result
        self.deadline = time.monotonic() + timeout_seconds
        self.timeout_seconds = timeout_seconds
        self.done = False
        self.error = None
        self.future = None
        self._resolved = False
        self._lock = threading.Lock()

    def poll(self):
        """True once the op ended (also when it failed); never blocks on the op."""
        if self.done:  # set once, never reset
            return True
        if not self._lock.acquire(blocking=False):
            return False  # another thread is completing it
        try:
            if not self.done and all(poll(h) for h in self.handles):
                self._settle()
            return self.done
        finally:
            self._lock.release()

    def complete(self, timeout_seconds=None):
        """Waits until the op ended, at most `timeout_seconds` (None: the group deadline);
        True when it did. Past the group deadline the op fails with KoloTimeoutError."""
        limit = self.deadline
        if timeout_seconds is not None:
            limit = min(limit, time.monotonic() + timeout_seconds)
        if not self._lock.acquire(timeout=max(0.0, limit - time.monotonic())):
            return False
        try:
            if self.done:
                return True
            for h in self.handles:
                for key in _keys(h):
                    if not _runtime.wait(key, max(0.0, limit - time.monotonic())):
                        if limit < self.deadline:
                            return False
                        self._fail(KoloTimeoutError(
                            "torch.distributed %s (kolo backend) did not complete within the "
                            "group timeout of %g s" % (self.op, self.timeout_seconds),
                            "KOLO_TIMEOUT"))
                        return True
            self._settle()
            return True
        finally:
            self._lock.release()

    def _settle(self):
        """Every handle is done: frees them all, then runs finish (or keeps the error)."""
        results, error = [], None
        for h in self.handles:
            try:
                results.append(synchronize(h))
            except Exception as e:  # noqa: BLE001 (kept as the op's error, raised by wait)
                error = error or e
        if error is None:
            try:
                self.finish(results)
            except Exception as e:  # noqa: BLE001 (kept as the op's error, raised by wait)
                error = e
        if error is not None:
            self._fail(named_error(self.op, error))
            return
        self.done = True
        self._resolve()

    def _fail(self, error):
        # A timed-out op stays in flight in Kolo; its tensors stay referenced by its handle.
        self.done, self.error = True, error
        self._resolve()

    def _resolve(self):
        """Completes the Future, if one was asked for, once the op ended."""
        with _Completer.lock:
            future = self.future
            if future is None or self._resolved or not self.done:
                return
            self._resolved = True
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(self.result)

    def get_future(self):
        with _Completer.lock:
            created = self.future is None
            if created:
                self.future = torch.futures.Future()
        if created:
            if self.done:
                self._resolve()
            else:
                _Completer.add(self)
        return self.future


class _Completer:
    """The daemon thread that completes the Completions whose Future was asked for."""

    lock = threading.Lock()
    _queue = queue.Queue()
    _thread = None

    @classmethod
    def add(cls, completion):
        if cls._thread is None:
            cls._thread = threading.Thread(target=cls._run, name="kolo-dist-completer",
                                           daemon=True)
            cls._thread.start()
        cls._queue.put(completion)

    @classmethod
    def _run(cls):
        while True:
            completion = cls._queue.get()
            try:
                completion.complete()
            except Exception as e:  # noqa: BLE001 (this thread must go on with the others)
                completion._fail(named_error(completion.op, e))


class KoloWork(dist.distributed_c10d.Work):
    """torch's Work over a Completion, for Python callers (see the module docstring)."""

    def __init__(self, completion):
        super().__init__()
        self._completion = completion

    def wait(self, timeout=None):
        seconds = timeout.total_seconds() if timeout is not None else 0.0
        c = self._completion
        if not c.complete(seconds if seconds > 0 else None):
            raise KoloTimeoutError("torch.distributed %s (kolo backend): wait() timed out after "
                                   "%g s; the op is still in flight" % (c.op, seconds),
                                   "KOLO_TIMEOUT")
        if c.error is not None:
            raise c.error
        return True

    def is_completed(self):
        return self._completion.poll()

    def is_success(self):
        return self._completion.poll() and self._completion.error is None

    def exception(self):
        return self._completion.error

    def result(self):
        self.wait()
        return self._completion.result

    def synchronize(self):
        self.wait()

    def get_future(self):
        return self._completion.get_future()

    def source_rank(self):
        raise KoloError("torch.distributed Work.source_rank() is for point-to-point receives",
                        "KOLO_INVALID_USAGE")


def _python_caller(depth):
    """True when the frame `depth` levels up is torch.distributed's Python API or code outside
    torch (which calls Work's Python methods); False when it is other torch code or none,
    i.e. the op was called from C++ reached from there (DDP, _broadcast_coalesced)."""
    try:
        filename = sys._getframe(depth + 1).f_code.co_filename
    except ValueError:
        return False
    if os.path.splitext(filename)[0] == _C10D_FILE:
        return True
    return not filename.startswith(_TORCH_DIR)


def make_work(completion, depth):
    """The Work for `completion`; `depth`: how many frames above make_work's caller the
    ProcessGroup method's caller is, plus one."""
    if _python_caller(depth):
        return KoloWork(completion)
    return _create_work_from_future(completion.get_future())
