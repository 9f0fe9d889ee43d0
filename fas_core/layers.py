"""Layers shared by the methods: central difference convolution and fixed Sobel filters."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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


SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
SOBEL_Y = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))


def sobel_xy(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Depthwise fixed Sobel (cross-correlation, zero padding 1) -> ``(Sx(x), Sy(x))`` (docs/methods/fas_sgtd.md).

    While tracing (ONNX export) it takes :func:`sobel_xy_fixed_kernel`, the same arithmetic with a
    kernel whose shape does not depend on the input.
    """
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return sobel_xy_fixed_kernel(x)
    c = x.size(1)
    kx = torch.tensor(SOBEL_X, dtype=x.dtype, device=x.device).expand(c, 1, 3, 3)
    ky = torch.tensor(SOBEL_Y, dtype=x.dtype, device=x.device).expand(c, 1, 3, 3)
    return F.conv2d(x, kx, padding=1, groups=c), F.conv2d(x, ky, padding=1, groups=c)


def sobel_xy_fixed_kernel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sobel_xy` with one fixed ``[2, 1, 3, 3]`` kernel over the channels folded into the batch.

    The depthwise form expands its kernel to the input's channel count; a tracer records that
    count as a dynamic size and ONNX then refuses the convolution ("kernel of unknown shape").
    Filtering each channel on its own with zero padding 1 is the same arithmetic.
    """
    b, c, h, w = x.shape
    k = torch.tensor((SOBEL_X, SOBEL_Y), dtype=x.dtype, device=x.device).unsqueeze(1)
    g = F.conv2d(x.reshape(-1, 1, h, w), k, padding=1).reshape(b, c, 2, h, w)
    return g[:, :, 0], g[:, :, 1]


def gradient_magnitude(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``sqrt(Sx(x)^2 + Sy(x)^2 + eps)``, the RSGB gradient branch input."""
    gx, gy = sobel_xy(x)
    return torch.sqrt(gx * gx + gy * gy + eps)
