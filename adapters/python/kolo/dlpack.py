"""Any framework's arrays through DLPack: objects with `__dlpack__`/`__dlpack_device__` (NumPy
>= 1.22, PyTorch, JAX, TensorFlow, CuPy, ...) and legacy "dltensor" capsules.

`describe()` reads the DLManagedTensor a capsule points to (the struct layout dlpack.h
publishes) and names its memory as a TensorRef: no copy. The capsule is never renamed
"used_dltensor", so its producer still owns the memory and frees it when the capsule is
collected; the TensorRef keeps the capsule (and the producer's object) referenced until the op
is synchronized. Results Kolo allocates are NumPy arrays handed back through the caller's
framework's `from_dlpack` (again no copy), so the caller gets its own array type.

Devices: CPU memory goes to the host path; CUDA memory (kDLCUDA, kDLCUDAManaged) to the
device path, made ready on the legacy default stream (`__dlpack__(stream=1)`), when this
libkolo.so serves CUDA tensors. New results of CUDA inputs live on the input's device and are
made by the input's own framework (`on_device()`: torch, or any array type with the Array
API's `__array_namespace__`): allreduce and broadcast write into its `empty_like`, the ops
whose result shape only negotiation tells (allgather, alltoall, reducescatter) are copied
there from Kolo's host result, as kolo.torch does for CUDA tensors. Other devices, strided
tensors and dtypes Kolo does not carry raise KoloInvalidArgumentError naming them.
"""

import ctypes
import importlib
import sys

import numpy as np

from . import _lib, _runtime
from .errors import KoloInvalidArgumentError, KoloUnsupportedError

_CPU, _CUDA, _CUDA_HOST, _CUDA_MANAGED = 1, 2, 3, 13
_DEVICE_NAMES = {1: "cpu", 2: "cuda", 3: "cuda_host", 4: "opencl", 7: "vulkan", 8: "metal",
                 9: "vpi", 10: "rocm", 11: "rocm_host", 13: "cuda_managed", 14: "oneapi"}
_LEGACY_DEFAULT_STREAM = 1  # __dlpack__(stream=1): CUDA's legacy default stream


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_is_valid.argtypes, _is_valid.restype = [ctypes.py_object, ctypes.c_char_p], ctypes.c_int
_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.argtypes, _get_pointer.restype = [ctypes.py_object, ctypes.c_char_p], ctypes.c_void_p
_CAPSULE = type(np.empty(0).__dlpack__())

# (DLPack type code, bits) -> (Kolo dtype, NumPy dtype of the results Kolo allocates).
# Codes: 0 int, 1 uint, 2 float, 4 bfloat, 6 bool.
_DTYPES = {
    (0, 8): (_lib.INT8, np.int8), (0, 16): (_lib.INT16, np.int16),
    (0, 32): (_lib.INT32, np.int32), (0, 64): (_lib.INT64, np.int64),
    (1, 8): (_lib.UINT8, np.uint8),
    (2, 16): (_lib.FLOAT16, np.float16), (2, 32): (_lib.FLOAT32, np.float32),
    (2, 64): (_lib.FLOAT64, np.float64),
}
_BOOL = (6, 8)
_CODE_NAMES = {0: "int", 1: "uint", 2: "float", 3: "opaque", 4: "bfloat", 5: "complex", 6: "bool"}
_MOVERS = ("broadcast", "allgather", "alltoall", "send", "recv")


def is_dlpack(obj):
    """True for an object that speaks DLPack (and is not a NumPy array, which Kolo reads
    directly) or a legacy DLPack capsule."""
    return type(obj) is _CAPSULE or hasattr(obj, "__dlpack__")


def _capsule_of(obj):
    if type(obj) is _CAPSULE:
        return obj, (_CPU, 0)  # a legacy capsule carries its device inside
    device = tuple(int(v) for v in obj.__dlpack_device__())
    if device[0] in (_CUDA, _CUDA_MANAGED):
        return obj.__dlpack__(stream=_LEGACY_DEFAULT_STREAM), device
    return obj.__dlpack__(), device


def _managed(capsule):
    if not _is_valid(capsule, b"dltensor"):
        raise KoloInvalidArgumentError(
            "a DLPack capsule that was already consumed (named used_dltensor) or is not one: "
            "pass the array itself or a fresh capsule", "KOLO_INVALID_ARGUMENT")
    return _DLManagedTensor.from_address(_get_pointer(capsule, b"dltensor")).dl_tensor


def _dtype_of(t, kind):
    code, bits, lanes = t.dtype.code, t.dtype.bits, t.dtype.lanes
    found = _DTYPES.get((code, bits)) if lanes == 1 else None
    if found is None and lanes == 1 and (code, bits) == _BOOL and kind in _MOVERS:
        found = (_lib.UINT8, np.bool_)
    if found is None:
        name = "%s%d" % (_CODE_NAMES.get(code, "code%d" % code), bits)
        raise KoloInvalidArgumentError(
            "unsupported DLPack dtype %s%s for %s; through DLPack Kolo takes float16, float32, "
            "float64, int8, uint8, int16, int32 and int64%s" % (
                name, "x%d" % lanes if lanes != 1 else "", kind,
                " (and bool)" if kind in _MOVERS else ""), "KOLO_INVALID_ARGUMENT")
    return found


def _check_contiguous(t, shape, kind):
    if not t.strides:
        return
    expected = 1
    for dim in reversed(range(len(shape))):
        if shape[dim] != 1 and t.strides[dim] != expected:
            raise KoloInvalidArgumentError(
                "%s of a strided DLPack tensor (shape %s, strides %s): Kolo reads and writes "
                "contiguous memory in place; pass a contiguous copy" % (
                    kind, shape, tuple(t.strides[i] for i in range(len(shape)))),
                "KOLO_INVALID_ARGUMENT")
        expected *= shape[dim]


def _device_of(device_type, device_id, kind):
    if device_type in (_CPU, _CUDA_HOST):
        return -1
    if device_type in (_CUDA, _CUDA_MANAGED):
        if not _runtime.build_info().cuda:
            raise KoloUnsupportedError(
                "%s of a CUDA DLPack tensor (device %d): this libkolo.so was built without "
                "CUDA" % (kind, device_id), "KOLO_INVALID_ARGUMENT")
        return device_id
    raise KoloInvalidArgumentError(
        "%s of a DLPack tensor on device %s:%d: Kolo serves cpu and cuda memory" % (
            kind, _DEVICE_NAMES.get(device_type, "type%d" % device_type), device_id),
        "KOLO_INVALID_ARGUMENT")


def describe(obj, kind):
    """(TensorRef over `obj`'s own memory, NumPy dtype of results, result converter)."""
    capsule, (device_type, device_id) = _capsule_of(obj)
    t = _managed(capsule)
    if type(obj) is _CAPSULE:
        device_type, device_id = t.device.device_type, t.device.device_id
    kdtype, np_dtype = _dtype_of(t, kind)
    shape = tuple(t.shape[i] for i in range(t.ndim))
    _check_contiguous(t, shape, kind)
    device = _device_of(device_type, device_id, kind)
    data = (t.data or 0) + t.byte_offset
    owner = (obj, capsule)
    ref = _runtime.TensorRef(data, kdtype, shape, owner, device=device)
    return ref, np.dtype(np_dtype), converter(obj)


_converters = {}
# Frameworks whose from_dlpack is not a module-level function of the array type's package.
_KNOWN = {"jaxlib": "jax.dlpack", "jax": "jax.dlpack",
          "tensorflow": "tensorflow.experimental.dlpack"}


def _module_from_dlpack(package):
    names = [_KNOWN[package]] if package in _KNOWN else []
    for name in names + [package]:
        module = sys.modules.get(name)
        if module is None and name in names:
            module = importlib.import_module(name)
        fn = getattr(module, "from_dlpack", None) if module is not None else None
        if fn is not None:
            return fn
    return None


def converter(obj):
    """A function turning a host NumPy array into an array of `obj`'s own type, by DLPack:
    `type(obj).from_dlpack`, else its framework's from_dlpack (torch.from_dlpack,
    numpy.from_dlpack, cupy.from_dlpack, jax.dlpack.from_dlpack,
    tf.experimental.dlpack.from_dlpack). Legacy capsules and unknown types get NumPy arrays."""
    cls = type(obj)
    fn = _converters.get(cls)
    if fn is not None:
        return fn
    if cls is _CAPSULE or cls is np.ndarray:
        fn = _identity
    else:
        from_dlpack = getattr(cls, "from_dlpack", None)
        if from_dlpack is None:
            from_dlpack = _module_from_dlpack(cls.__module__.split(".")[0])
        fn = _identity if from_dlpack is None else _through(from_dlpack)
    _converters[cls] = fn
    return fn


def _identity(array):
    return array


def _through(from_dlpack):
    def convert(array):
        try:
            return from_dlpack(array)
        except TypeError:  # older from_dlpack functions take a capsule only
            return from_dlpack(array.__dlpack__())
    return convert


def on_device(obj, kind):
    """(empty_like, to_device) for a CUDA DLPack object, by its own framework:
    `empty_like()` makes an uninitialised array like `obj` on its device, `to_device(a)` a copy
    of the host NumPy array `a` there. torch tensors use torch; other types their Array API
    namespace (`__array_namespace__`: CuPy, JAX, ...)."""
    if type(obj).__module__.split(".")[0] == "torch":
        torch = importlib.import_module("torch")
        return (lambda: torch.empty_like(obj)), (lambda a: torch.from_numpy(a).to(obj.device))
    namespace = getattr(obj, "__array_namespace__", None)
    if namespace is None:
        raise KoloUnsupportedError(
            "%s of a CUDA DLPack %s: its result is made on the device by the array's own "
            "framework, and a %s has neither torch's nor the Array API's "
            "(__array_namespace__)%s" % (
                kind, type(obj).__name__, type(obj).__name__,
                "; %s_ writes in place instead" % kind if kind in ("allreduce", "broadcast")
                else ""), "KOLO_INVALID_ARGUMENT")
    xp, device = namespace(), getattr(obj, "device", None)
    return (lambda: xp.empty_like(obj)), (lambda a: xp.asarray(a, device=device))
