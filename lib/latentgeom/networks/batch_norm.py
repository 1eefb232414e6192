"""Batch norm whose training step is fast for the zoo's narrow layers in the bfloat16 loop.

PyTorch's CPU batch-norm kernel for channels-last tensors vectorises over the channels; with
fewer channels than one vector of 16 floats (the width-8 networks' first stage) it runs a
scalar loop. Measured on the 2-core CI machine, forward + backward of a
``[256, 8, 28, 28]`` bfloat16 activation: 8.1 ms channels-last against 1.0 ms in the default
(contiguous) layout, where the kernel vectorises over the pixels instead. At width 8 that was
44 % of a ``vgg_small`` training step (``torch.profiler``), and it kept the batch-norm families
under the 2x speed-up that ``make bench`` asks of the bfloat16 loop.

:class:`BatchNorm2d` is ``nn.BatchNorm2d`` (same parameters, buffers, state-dict keys and
eval-mode arithmetic) except in one case, a training-mode bfloat16 channels-last input with
fewer than :data:`NARROW_CHANNELS` channels: it then copies the input to the contiguous layout,
runs the same ATen kernels (``native_batch_norm`` and its backward: float32 statistics,
unbiased running variance, momentum and ``num_batches_tracked`` as ``nn.BatchNorm2d``) and
copies the output and the input's gradient back to channels-last. The copies move bytes only;
what differs from the channels-last kernel is the order of the float32 sums, so outputs agree
to bfloat16 rounding. Every other input (float32, eval mode, wider layers, contiguous
tensors) goes through ``nn.BatchNorm2d.forward`` unchanged. Used by
:mod:`latentgeom.networks.models` for every family.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

#: Channels below which a channels-last bfloat16 training input is normalised in the
#: contiguous layout (16 float32 lanes fill one AVX-512 vector; from 16 channels on the
#: channels-last kernel was as fast or faster in the measurement above).
NARROW_CHANNELS = 16


class _ContiguousBatchNorm(torch.autograd.Function):
    """Training-mode batch norm of a channels-last tensor computed in the contiguous layout."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum: float, eps: float):
        plain = x.contiguous()
        # Updates running_mean / running_var in place exactly as nn.BatchNorm2d's call does.
        y, mean, invstd = torch.ops.aten.native_batch_norm(plain, weight, bias, running_mean, running_var,
                                                           True, momentum, eps)
        ctx.save_for_backward(plain, weight, mean, invstd)
        ctx.eps = eps
        return y.contiguous(memory_format=torch.channels_last)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        plain, weight, mean, invstd = ctx.saved_tensors
        # Running statistics are not read by the training-mode backward (None is accepted).
        dx, dweight, dbias = torch.ops.aten.native_batch_norm_backward(
            grad.contiguous(), plain, weight, None, None, mean, invstd, True, ctx.eps,
            [ctx.needs_input_grad[0], True, True])
        dx = None if dx is None else dx.contiguous(memory_format=torch.channels_last)
        return dx, dweight, dbias, None, None, None, None


def takes_contiguous_route(module: nn.BatchNorm2d, x: torch.Tensor) -> bool:
    """Whether :class:`BatchNorm2d` normalises ``x`` [N, C, H, W] in the contiguous layout:
    training mode with running statistics, affine, a fixed momentum, a bfloat16 input in
    channels-last layout (not also contiguous) with fewer than :data:`NARROW_CHANNELS`
    channels."""
    return (module.training and module.track_running_stats and module.affine and module.momentum is not None
            and x.dim() == 4 and x.dtype == torch.bfloat16 and x.shape[1] < NARROW_CHANNELS
            and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())


class BatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` with the narrow-layer route of this module's docstring (same
    parameters, buffers and state-dict keys; a state dict of one loads into the other)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not takes_contiguous_route(self, x):
            return super().forward(x)
        self.num_batches_tracked.add_(1)
        return _ContiguousBatchNorm.apply(x, self.weight, self.bias, self.running_mean, self.running_var,
                                          self.momentum, self.eps)
