"""Layers shared by the methods: central difference convolution, fixed Sobel filters, fast-path helpers.

The Sobel filters live in :mod:`fas_core.sobel`; their public names are re-exported here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .sobel import (
    SOBEL_X,
    SOBEL_Y,
    gradient_magnitude,
    is_channels_last,
    is_tracing,
    sobel_xy,
    sobel_xy_fixed_kernel,
    sobel_xy_padded,
    sobel_xy_shifted,
)

__all__ = [
    "SOBEL_X", "SOBEL_Y", "CDConv2d", "add_pointwise_conv_", "fold_central_difference", "gradient_magnitude",
    "is_channels_last", "is_tracing", "preferred_layout", "set_literal", "sobel_xy", "sobel_xy_fixed_kernel",
    "sobel_xy_padded", "sobel_xy_shifted",
]


def fold_central_difference(weight: torch.Tensor, theta: float) -> torch.Tensor:
    """The single kernel equal to CDC: centre tap ``W_c - theta * sum(W)`` (3x3 kernels only).

    CDC is linear in ``W``: ``conv(x, W) - theta * conv1x1(x, sum_k W)`` equals one 3x3 conv with
    this kernel, so it costs one convolution instead of two (docs/methods/dum.md).
    """
    if theta == 0:
        return weight
    kh, kw = weight.shape[-2:]
    centre = torch.zeros_like(weight)
    centre[..., kh // 2, kw // 2] = weight.sum(dim=(2, 3))
    return weight - theta * centre


class CDConv2d(nn.Module):
    """Central difference convolution (CDCN, Yu et al. CVPR 2020, Eq. 2), computed folded.

    ``y = conv(x, W) - theta * conv1x1(x, sum_k W)``. The weight lives in ``self.conv`` so state
    dict keys read ``<name>.conv.weight`` as in the released CDCN/DUM checkpoints.
    ``literal=True`` runs the two-convolution form (kept for tests and benchmarks).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 1, bias: bool = False, theta: float = 0.7, literal: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self.theta = theta
        self.literal = literal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.literal:
            return self.forward_literal(x)
        c = self.conv
        return F.conv2d(x, fold_central_difference(c.weight, self.theta), c.bias, c.stride, c.padding)

    def forward_literal(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.theta == 0:
            return out
        kernel_diff = self.conv.weight.sum(dim=(2, 3))[:, :, None, None]
        diff = F.conv2d(x, kernel_diff, self.conv.bias, stride=self.conv.stride, padding=0)
        return out - self.theta * diff

    def extra_repr(self) -> str:
        return f"theta={self.theta}, literal={self.literal}"


def preferred_layout(x: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """``x`` in the memory layout the fast CPU paths want: channels-last without gradients, else NCHW.

    On the CPU oneDNN runs 3x3 convolutions forward about 1.4x faster channels-last (NHWC) but
    their backward about 2x slower, so whenever autograd records through ``x`` or ``module``'s
    parameters ``x`` is made NCHW-contiguous, and otherwise a 4-d ``x`` becomes channels-last.
    Outside the CPU and while tracing ``x`` is returned unchanged.
    """
    if x.device.type != "cpu" or is_tracing():
        return x
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in module.parameters())):
        return x.contiguous()
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def add_pointwise_conv_(out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``out += conv1x1(x, weight)`` (no bias) in place; returns ``out``.

    With both tensors channels-last this is one matrix product accumulated into ``out``'s memory
    (``[N*H*W, C_out] += [N*H*W, C_in] @ W^T``): no temporary and no separate addition.
    """
    if not (is_channels_last(out) and is_channels_last(x)) or not out.dtype == x.dtype == weight.dtype:
        # mixed precision (autocast hands bf16 activations to float weights): the convolution casts, addmm would not
        return out.add_(F.conv2d(x, weight))
    rows = out.permute(0, 2, 3, 1).view(-1, out.shape[1])  # channels-last memory is NHWC: these are views
    rows.addmm_(x.permute(0, 2, 3, 1).view(-1, x.shape[1]), weight.flatten(1).t())
    return out


def set_literal(model: nn.Module, literal: bool) -> nn.Module:
    """Switch every sub-module with a ``literal`` attribute between its fast and its reference form."""
    for m in model.modules():
        if hasattr(m, "literal"):
            m.literal = literal
    return model
