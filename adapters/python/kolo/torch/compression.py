"""Gradient compression applied around allreduce: `Compression.none`, `Compression.fp16` and
`Compression.bf16`.

fp16 halves the bytes on the wire for float32/float64 tensors at the cost of precision;
other dtypes pass through unchanged. bf16 (a Kolo extension; Horovod has none and fp16) does
the same with torch.bfloat16, which keeps float32's range (no overflow to inf above 65504) and
8 significant bits instead of 11; it converts float32 and float64 only (float16 and bfloat16
tensors pass through). Kolo sums 16-bit floats in float32 and rounds once per element, so the
reduced value is the bfloat16 (or float16) rounding of the sum of the compressed gradients.
"""

import torch


class Compressor:
    """compress(tensor) -> (tensor, ctx); decompress(tensor, ctx) -> tensor."""

    @staticmethod
    def compress(tensor):
        raise NotImplementedError

    @staticmethod
    def decompress(tensor, ctx):
        raise NotImplementedError


class NoneCompressor(Compressor):
    @staticmethod
    def compress(tensor):
        return tensor, None

    @staticmethod
    def decompress(tensor, ctx):
        return tensor


class FP16Compressor(Compressor):
    @staticmethod
    def compress(tensor):
        if tensor.dtype.is_floating_point and tensor.dtype != torch.float16:
            return tensor.type(torch.float16), tensor.dtype
        return tensor, None

    @staticmethod
    def decompress(tensor, ctx):
        return tensor if ctx is None else tensor.type(ctx)


class BF16Compressor(Compressor):
    @staticmethod
    def compress(tensor):
        if tensor.dtype in (torch.float32, torch.float64):
            return tensor.type(torch.bfloat16), tensor.dtype
        return tensor, None

    @staticmethod
    def decompress(tensor, ctx):
        return tensor if ctx is None else tensor.type(ctx)


class Compression:
    none = NoneCompressor
    fp16 = FP16Compressor
    bf16 = BF16Compressor
