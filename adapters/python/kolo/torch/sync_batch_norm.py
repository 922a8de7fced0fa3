"""SyncBatchNorm: batch normalization whose statistics cover the whole global batch.

In training, each rank's per-channel count, sum and sum of squares are summed over ranks in
one allreduce (1 + 2 x channels float64 values), so the cost does not grow with the batch.
The backward pass sums its two per-channel terms the same way. Statistics are accumulated
in float64 so that summing many ranks' partial sums loses no precision.

Thread: the caller's (forward and backward run on the autograd threads of the caller).
"""

import torch
import torch.nn.functional as F

from . import mpi_ops


def _channel_dims(x):
    return [0] + list(range(2, x.dim()))


def _bshape(x):
    return [1, x.size(1)] + [1] * (x.dim() - 2)


class _SyncBatchNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, mean, invstd, count):
        shape = _bshape(x)
        xhat = (x.double() - mean.view(shape)) * invstd.view(shape)
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.count = count
        out = xhat * weight.double().view(shape) + bias.double().view(shape)
        return out.to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        xhat, invstd, weight = ctx.saved_tensors
        c = grad_out.size(1)
        shape = _bshape(grad_out)
        g = grad_out.double()
        local = torch.cat([g.sum(_channel_dims(g)), (g * xhat).sum(_channel_dims(g))])
        total = mpi_ops.allreduce(local, op=mpi_ops.Sum)
        sum_g, sum_gx = total[:c], total[c:]
        n = ctx.count
        gx = (weight.double() * invstd).view(shape) * (
            g - (sum_g / n).view(shape) - xhat * (sum_gx / n).view(shape))
        return (gx.to(grad_out.dtype), local[c:].to(weight.dtype), local[:c].to(weight.dtype),
                None, None, None)


class SyncBatchNorm(torch.nn.modules.batchnorm._BatchNorm):
    """Drop-in for torch.nn.BatchNorm*d whose training statistics span every rank."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError("expected at least 2D input (got %dD input)" % input.dim())

    def forward(self, input):
        self._check_input_dim(input)
        if not self.training and self.track_running_stats:
            return F.batch_norm(input, self.running_mean, self.running_var, self.weight,
                                self.bias, False, 0.0, self.eps)
        c = input.size(1)
        with torch.no_grad():
            x = input.detach().double()
            dims = _channel_dims(x)
            local = torch.cat([torch.tensor([x.numel() / c], dtype=torch.float64),
                               x.sum(dims), (x * x).sum(dims)])
            stats = mpi_ops.allreduce(local, op=mpi_ops.Sum)
            n = float(stats[0])
            mean = stats[1:1 + c] / n
            var = (stats[1 + c:] / n - mean * mean).clamp_(min=0.0)
            invstd = torch.rsqrt(var + self.eps)
            if self.training and self.track_running_stats:
                self.num_batches_tracked += 1
                momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                            else self.momentum)
                unbiased = var * n / max(n - 1.0, 1.0)
                self.running_mean.mul_(1 - momentum).add_(mean.to(self.running_mean.dtype),
                                                          alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.to(self.running_var.dtype),
                                                         alpha=momentum)
        weight = self.weight if self.affine else torch.ones(c, dtype=input.dtype)
        bias = self.bias if self.affine else torch.zeros(c, dtype=input.dtype)
        return _SyncBatchNormFunction.apply(input, weight, bias, mean, invstd, n)
