"""A minimal DLPack producer that is not any framework: a contiguous buffer in host memory
(NumPy-owned) or in CUDA device memory (cudaMalloc through libcudart with ctypes), exported by
`__dlpack__`/`__dlpack_device__` as a "dltensor" capsule built by hand from dlpack.h's struct
layout. It lets the GPU checks hand Kolo's generic API a CUDA DLPack tensor on a machine
without torch's CUDA build or CuPy, and lets the same code run on the CPU everywhere else."""

import ctypes
import ctypes.util
import glob

import numpy as np

KDLCPU, KDLCUDA = 1, 2
_CODES = {"i": 0, "u": 1, "f": 2}
_CAPSULE_NAME = b"dltensor"  # referenced by every capsule: kept alive with the module


# dlpack.h's structs, as Kolo's reader declares them (the producer writes what Kolo reads).
from kolo.dlpack import _DLDataType, _DLDevice, _DLManagedTensor  # noqa: E402


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_capsule_new.restype = ctypes.py_object


def _cudart():
    candidates = sorted(glob.glob("/usr/local/cuda/lib64/libcudart.so*"))
    found = ctypes.util.find_library("cudart")
    for name in candidates + ([found] if found else []):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise RuntimeError("libcudart not found (looked in /usr/local/cuda/lib64 and the loader "
                       "path)")


class _Cuda:
    H2D, D2H = 1, 2

    def __init__(self):
        self.lib = _cudart()

    def check(self, rc, what):
        if rc != 0:
            raise RuntimeError("%s failed: CUDA error %d" % (what, rc))

    def malloc(self, nbytes):
        ptr = ctypes.c_void_p()
        self.check(self.lib.cudaMalloc(ctypes.byref(ptr), ctypes.c_size_t(max(nbytes, 1))),
                   "cudaMalloc(%d)" % nbytes)
        return ptr.value

    def copy(self, dst, src, nbytes, kind):
        self.check(self.lib.cudaMemcpy(ctypes.c_void_p(dst), ctypes.c_void_p(src),
                                       ctypes.c_size_t(nbytes), ctypes.c_int(kind)),
                   "cudaMemcpy")

    def free(self, ptr):
        self.lib.cudaFree(ctypes.c_void_p(ptr))


class _Namespace:
    """The two Array API functions Kolo asks of a device array's framework."""

    @staticmethod
    def empty_like(x):
        return RawArray(np.zeros(x.shape, dtype=x.dtype), x.device)

    @staticmethod
    def asarray(values, device=None):
        return RawArray(np.asarray(values), device or "cpu")


class RawArray:
    """`RawArray(host_values, device="cpu"|"cuda")`: a copy of a contiguous NumPy array in host
    or device memory. `.numpy()` copies it back; `.address` is where its data lives;
    `.streams` records the stream argument of every `__dlpack__` call. Its
    `__array_namespace__` has `empty_like` and `asarray`, which is what Kolo needs to hand back
    new results on the device."""

    _cuda = None

    def __init__(self, values, device="cpu"):
        values = np.ascontiguousarray(values)
        self.dtype, self.shape, self.device = values.dtype, values.shape, device
        self.nbytes = values.nbytes
        self.streams = []
        if device == "cpu":
            self._host = values.copy()
            self.address = self._host.ctypes.data
        elif device == "cuda":
            if RawArray._cuda is None:
                RawArray._cuda = _Cuda()
            self.address = RawArray._cuda.malloc(self.nbytes)
            RawArray._cuda.copy(self.address, values.ctypes.data, self.nbytes, _Cuda.H2D)
        else:
            raise ValueError("device %r: cpu or cuda" % device)
        self._exports = []  # every struct a capsule points to stays alive with the array

    def __array_namespace__(self, api_version=None):
        return _Namespace

    def numpy(self):
        if self.device == "cpu":
            return self._host.copy()
        out = np.empty(self.shape, dtype=self.dtype)
        RawArray._cuda.copy(out.ctypes.data, self.address, self.nbytes, _Cuda.D2H)
        return out

    def __dlpack_device__(self):
        return (KDLCPU, 0) if self.device == "cpu" else (KDLCUDA, 0)

    def __dlpack__(self, stream=None):
        self.streams.append(stream)
        shape = (ctypes.c_int64 * max(len(self.shape), 1))(*self.shape)
        managed = _DLManagedTensor()
        t = managed.dl_tensor
        t.data = self.address
        t.device = _DLDevice(*self.__dlpack_device__())
        t.ndim = len(self.shape)
        t.dtype = _DLDataType(_CODES[self.dtype.kind], self.dtype.itemsize * 8, 1)
        t.shape = shape
        t.strides = None
        t.byte_offset = 0
        self._exports.append((managed, shape))
        return _capsule_new(ctypes.addressof(managed), _CAPSULE_NAME, None)

    def __del__(self):
        address = getattr(self, "address", None)
        if getattr(self, "device", None) == "cuda" and address and RawArray._cuda is not None:
            RawArray._cuda.free(address)
