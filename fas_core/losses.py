"""Depth losses shared by CDCN/DUM and FAS-SGTD."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def contrast_kernels(device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The eight 3x3 contrast-depth kernels: -1 at the centre, +1 at one neighbour each (8x1x3x3)."""
    k = torch.zeros(8, 1, 3, 3, dtype=dtype, device=device)
    neighbours = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]
    for i, (r, c) in enumerate(neighbours):
        k[i, 0, 1, 1] = -1.0
        k[i, 0, r, c] = 1.0
    return k


def contrast_depth(x: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """Apply the 8 contrast kernels to a depth map ``[B, H, W]`` or ``[B, 1, H, W]`` -> ``[B, 8, H', W']``."""
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.size(1) != 1:
        raise ValueError(f"contrast depth expects one channel, got shape {tuple(x.shape)}")
    return F.conv2d(x, contrast_kernels(x.device, x.dtype), padding=padding)


def contrast_depth_loss(pred: torch.Tensor, target: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """MSE between the contrast responses of prediction and label (docs/methods/dum.md, "Contrast depth loss").

    ``padding=0`` is CDCN/DUM's (30x30 response for 32x32 maps); ``padding=1`` is FAS-SGTD's
    zero-padded variant (32x32).
    """
    return F.mse_loss(contrast_depth(pred, padding), contrast_depth(target, padding))


def depth_loss(pred: torch.Tensor, target: torch.Tensor, contrast_weight: float = 1.0,
               padding: int = 0) -> torch.Tensor:
    """``MSE(pred, target) + contrast_weight * contrast_depth_loss`` on maps of the same shape."""
    if pred.dim() == 4:
        pred = pred.squeeze(1)
    if target.dim() == 4:
        target = target.squeeze(1)
    return F.mse_loss(pred, target) + contrast_weight * contrast_depth_loss(pred, target, padding)
