"""The reduce ops every Python adapter names (the C ABI's kolo_reduce_op_t values).

Adasum: allreduce and grouped allreduce only, floating-point CPU tensors or arrays, process sets
whose size is a power of two (adapters/python/README.md).
"""

from . import _lib

Sum = _lib.SUM
Average = _lib.AVERAGE
Min = _lib.MIN
Max = _lib.MAX
Product = _lib.PRODUCT
Adasum = _lib.ADASUM
