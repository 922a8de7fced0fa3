"""ctypes declarations of Kolo's C ABI (kolo.h).

ctypes rather than a compiled extension: nothing here is compiled against a Python or
PyTorch version, so one build of libkolo.so serves every interpreter and torch release, and
only plain C types cross the boundary. ctypes releases the GIL for the duration of every
foreign call, so a rank blocked in kolo_handle_wait does not stall other Python threads.

The library is found, in order: $KOLO_LIBRARY, libkolo.so next to this file (where the build
places a link), then the system's library search path.
"""

import ctypes
import ctypes.util
import os

OK = 0
INVALID_ARGUMENT = 1
INVALID_USAGE = 2
MISMATCH = 3
TIMEOUT = 4
IO_ERROR = 5
REMOTE_ERROR = 6
ABORTED = 7
UNAVAILABLE = 8
INTERNAL = 9

FLOAT16, BFLOAT16, FLOAT32, FLOAT64, INT8, UINT8, INT32, INT64, INT16 = range(9)
DTYPE_BYTES = (2, 2, 4, 8, 1, 1, 4, 8, 2)  # by the codes above
SUM, AVERAGE, MIN, MAX, PRODUCT, ADASUM = range(6)

_c_int64_p = ctypes.POINTER(ctypes.c_int64)

# kolo.h's structs, field for field and in order (tests/python/abi/test_abi_structs.py holds
# them to the header): TensorDesc is kolo_tensor_t, OpOptions kolo_op_options_t.


class Config(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("fusion_threshold_bytes", ctypes.c_int64),
        ("cache_capacity", ctypes.c_int64),
        ("stall_warning_seconds", ctypes.c_double),
        ("stall_shutdown_seconds", ctypes.c_double),
        ("timeline_path", ctypes.c_char_p),
    ]


class TensorDesc(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("output", ctypes.c_void_p),
        ("dtype", ctypes.c_int),
        ("ndim", ctypes.c_int32),
        ("shape", _c_int64_p),
        ("device", ctypes.c_int32),
        ("stream", ctypes.c_void_p),  # CUDA tensors: the cudaStream_t that produced data
        ("output_bytes", ctypes.c_size_t),  # row ops: the bytes at output (0: Kolo allocates)
    ]


class BuildInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("mpi", ctypes.c_int32),
        ("cuda", ctypes.c_int32),
        ("nccl", ctypes.c_int32),
        ("nccl_version", ctypes.c_int32),
    ]


class OpOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("reduce_op", ctypes.c_int),
        ("prescale", ctypes.c_double),
        ("postscale", ctypes.c_double),
        ("root_rank", ctypes.c_int32),
        ("process_set", ctypes.c_int32),
        ("splits", _c_int64_p),
        ("num_splits", ctypes.c_int32),
    ]


def _find_library():
    explicit = os.environ.get("KOLO_LIBRARY")
    if explicit:
        return explicit
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libkolo.so")
    if os.path.exists(here):
        return here
    found = ctypes.util.find_library("kolo")
    if found:
        return found
    raise ImportError(
        "cannot find libkolo.so: build Kolo (it links the library into build/python/kolo/), "
        "or set KOLO_LIBRARY to its path")


def _declare(lib):
    vp, st = ctypes.c_void_p, ctypes.c_int
    handle_out = ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "kolo_abi_version": ([], ctypes.c_int),
        "kolo_build_info": ([ctypes.POINTER(BuildInfo)], st),
        "kolo_status_name": ([st], ctypes.c_char_p),
        "kolo_stack_dump_path": ([ctypes.c_char_p, ctypes.c_size_t], ctypes.c_size_t),
        "kolo_last_error": ([], ctypes.c_char_p),
        "kolo_config_init": ([ctypes.POINTER(Config)], None),
        "kolo_tensor_init": ([ctypes.POINTER(TensorDesc)], None),
        "kolo_op_options_init": ([ctypes.POINTER(OpOptions)], None),
        "kolo_init": ([ctypes.POINTER(Config), handle_out], st),
        "kolo_shutdown": ([vp], st),
        "kolo_rank": ([vp], ctypes.c_int),
        "kolo_size": ([vp], ctypes.c_int),
        "kolo_local_rank": ([vp], ctypes.c_int),
        "kolo_local_size": ([vp], ctypes.c_int),
        "kolo_cross_rank": ([vp], ctypes.c_int),
        "kolo_cross_size": ([vp], ctypes.c_int),
        "kolo_grouped_allreduce_async": (
            [vp, ctypes.c_int32, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(TensorDesc),
             ctypes.POINTER(OpOptions), handle_out], st),
        "kolo_grouped_allgather_async": (
            [vp, ctypes.c_int32, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(TensorDesc),
             ctypes.POINTER(OpOptions), handle_out], st),
        "kolo_grouped_reducescatter_async": (
            [vp, ctypes.c_int32, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(TensorDesc),
             ctypes.POINTER(OpOptions), handle_out], st),
        "kolo_barrier_async": ([vp, ctypes.c_char_p, ctypes.POINTER(OpOptions), handle_out], st),
        "kolo_join_async": ([vp, ctypes.POINTER(OpOptions), handle_out], st),
        "kolo_send_async": ([vp, ctypes.POINTER(TensorDesc), ctypes.c_int32, ctypes.c_int32,
                             ctypes.POINTER(OpOptions), handle_out], st),
        "kolo_recv_async": ([vp, ctypes.POINTER(TensorDesc), ctypes.c_int32, ctypes.c_int32,
                             ctypes.POINTER(OpOptions), handle_out], st),
        "kolo_handle_poll": ([vp, ctypes.POINTER(ctypes.c_int)], st),
        "kolo_handle_wait": ([vp, ctypes.c_double], st),
        "kolo_handle_output": (
            [vp, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t),
             ctypes.POINTER(ctypes.c_int32), _c_int64_p, ctypes.c_int32], st),
        "kolo_handle_output_at": (
            [vp, ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t),
             ctypes.POINTER(ctypes.c_int32), _c_int64_p, ctypes.c_int32], st),
        "kolo_handle_received_splits": (
            [vp, _c_int64_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int32)], st),
        "kolo_handle_last_joined_rank": ([vp], ctypes.c_int32),
        "kolo_handle_free": ([vp], None),
        "kolo_add_process_set": (
            [vp, ctypes.POINTER(ctypes.c_int32), ctypes.c_int32, ctypes.POINTER(ctypes.c_int32)],
            st),
        "kolo_remove_process_set": ([vp, ctypes.c_int32], st),
        "kolo_start_timeline": ([vp, ctypes.c_char_p, ctypes.c_int], st),
        "kolo_stop_timeline": ([vp], st),
        "kolo_membership_generation": ([vp, ctypes.POINTER(ctypes.c_int64),
                                        ctypes.POINTER(ctypes.c_int64)], st),
    }
    for op in ("allreduce", "allgather", "broadcast", "alltoall", "reducescatter"):
        sigs["kolo_%s_async" % op] = (
            [vp, ctypes.c_char_p, ctypes.POINTER(TensorDesc), ctypes.POINTER(OpOptions),
             handle_out], st)
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    _check_layouts(lib)
    return lib


def _check_layouts(lib):
    """The *_init functions write the library's struct sizes: a library whose structs grew
    past these declarations would write beyond them, so refuse it at import."""
    for struct, init in ((Config, lib.kolo_config_init), (TensorDesc, lib.kolo_tensor_init),
                         (OpOptions, lib.kolo_op_options_init)):
        scratch = ctypes.create_string_buffer(ctypes.sizeof(struct) + 256)
        init(ctypes.cast(scratch, ctypes.POINTER(struct)))
        size = ctypes.c_size_t.from_buffer(scratch).value
        if size != ctypes.sizeof(struct):
            raise ImportError(
                "libkolo.so (%s) has a %d-byte %s where this kolo package expects %d bytes: "
                "the package and the library come from different Kolo versions"
                % (lib._name, size, struct.__name__, ctypes.sizeof(struct)))


lib = _declare(ctypes.CDLL(_find_library()))
