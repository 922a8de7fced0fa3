"""synchronize() waits in slices (so that Ctrl-C is seen within one); an op that finishes just
after a slice ran out must raise its own error, not the slice's timeout. A fake library plays
the race deterministically: the first wait slice times out, the op is done by the next look."""

import ctypes

import pytest

from kolo import _lib, _runtime
from kolo.errors import KoloPeerError, KoloTimeoutError


class RacingLib:
    """The C calls synchronize() makes, for one op whose outcome is `final`."""

    def __init__(self, final, message):
        self.final = final
        self.message = message
        self.waits = []
        self.last = b""

    def kolo_handle_wait(self, handle, seconds):
        self.waits.append(seconds)
        first = len(self.waits) == 1
        self.last = b"wait slice ran out" if first else self.message
        return _lib.TIMEOUT if first else self.final

    def kolo_handle_poll(self, handle, done):
        ctypes.cast(done, ctypes.POINTER(ctypes.c_int)).contents.value = 1
        return _lib.OK

    def kolo_last_error(self):
        return self.last

    def kolo_status_name(self, status):
        return {_lib.TIMEOUT: b"KOLO_TIMEOUT", _lib.IO_ERROR: b"KOLO_IO_ERROR"}[status]

    def kolo_handle_free(self, handle):
        pass


def synchronize_with(monkeypatch, fake):
    monkeypatch.setattr(_runtime, "lib", fake)
    key = _runtime._register(object(), None, None)
    _runtime.synchronize(key)


def test_the_ops_own_failure_after_a_slice_ran_out(monkeypatch):
    fake = RacingLib(_lib.IO_ERROR, b"recv from rank 1 tag 4: connection to rank 1 lost")
    with pytest.raises(KoloPeerError, match="connection to rank 1 lost"):
        synchronize_with(monkeypatch, fake)
    assert fake.waits == [_runtime._WAIT_SLICE_SECONDS, 0.0]


def test_an_op_that_itself_timed_out_still_raises_its_timeout(monkeypatch):
    fake = RacingLib(_lib.TIMEOUT, b"recv from rank 1 tag 4: did not complete within 30 s")
    with pytest.raises(KoloTimeoutError, match="did not complete within 30 s"):
        synchronize_with(monkeypatch, fake)
