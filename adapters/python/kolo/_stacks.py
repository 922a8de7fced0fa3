"""Python stacks in Kolo's flight-recorder dumps: on SIGUSR1 (sent by `kill -USR1`, by
`kolorun --status`, or by kolorun when a collective stalls) faulthandler writes every Python
thread's stack to the file libkolo names, then chains to Kolo's own handler, whose dump moves
those stacks into kolo-flight.rank<R>.pid<P>.txt. faulthandler writes from inside the signal
handler, so a rank stuck in C code, or holding the GIL, still shows where it is.

Nothing is registered when Kolo does not own SIGUSR1 (the program installed its own handler
first; libkolo then reports no path)."""

import atexit
import ctypes
import faulthandler
import os
import signal

from ._lib import lib

_registered = {}  # path -> the open file faulthandler writes to (kept for the process's life)


def register():
    """Called after each kolo_init(); registers once per path."""
    size = lib.kolo_stack_dump_path(None, 0)
    if size == 0:
        return
    buffer = ctypes.create_string_buffer(size + 1)
    lib.kolo_stack_dump_path(buffer, size + 1)
    path = buffer.value.decode()
    if path in _registered:
        return
    try:
        stream = open(path, "a")  # appending: Kolo empties the file after each dump
    except OSError:
        return
    faulthandler.register(signal.SIGUSR1, file=stream, all_threads=True, chain=True)
    _registered[path] = stream
    if len(_registered) == 1:
        atexit.register(_remove_files)


def _remove_files():
    """At exit: the stack files go (their content, if any, is in the flight dumps)."""
    faulthandler.unregister(signal.SIGUSR1)
    for path, stream in _registered.items():
        stream.close()
        try:
            os.unlink(path)
        except OSError:
            pass
    _registered.clear()
