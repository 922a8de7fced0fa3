"""Kolo's Python exceptions, one per kind of runtime failure (kolo_status_t).

Each carries the runtime's message (which names the tensor, ranks and sizes involved) and the
status name in `.status`, so callers can tell a programming error from a lost peer.
"""


class KoloError(RuntimeError):
    """A Kolo call or collective failed; `.status` is the C ABI's status name."""

    def __init__(self, message, status="KOLO_INTERNAL"):
        super().__init__(message)
        self.status = status


class KoloMismatchError(KoloError):
    """Ranks submitted the same name with different dtype, shape, op, root or process set."""


class KoloTimeoutError(KoloError):
    """An op or the job did not make progress within its deadline."""


class KoloPeerError(KoloError):
    """A peer failed, left or could not be reached; the job cannot continue."""


class HostsUpdatedInterrupt(KoloError):
    """Elastic jobs: ranks were added to or removed from the job; raised by
    State.commit() on every rank at once, caught by the elastic run wrapper, which re-forms
    the job without restoring (the state was just committed)."""

    def __init__(self, skip_sync=False):
        super().__init__("the job's membership changed", "KOLO_OK")
        self.skip_sync = skip_sync


class KoloInvalidArgumentError(KoloError, ValueError):
    """A call was rejected at once for a bad argument (dtype, shape, rank, name)."""


class KoloUnsupportedError(KoloError, NotImplementedError):
    """A feature Kolo does not provide (the message names it)."""


_BY_STATUS = {
    1: KoloInvalidArgumentError,
    2: KoloError,
    3: KoloMismatchError,
    4: KoloTimeoutError,
    5: KoloPeerError,
    6: KoloPeerError,
    7: KoloError,
    8: KoloPeerError,
    9: KoloError,
}


def error_for(status, message, status_name):
    """The exception for a failed kolo_status_t."""
    return _BY_STATUS.get(status, KoloError)(message, status_name)
