"""Inference-time graph simplification: CDC folding and conv + BatchNorm fusion.

Used by test-time scoring, the benchmarks and the export tool. Both rewrites are exact up to
float rounding:

* a central difference convolution (:class:`fas_core.layers.CDConv2d`) equals one plain 3x3
  convolution whose centre tap is ``W_c - theta * sum(W)`` (docs/methods/dum.md, "Central difference
  convolution");
* a convolution followed by BatchNorm in eval mode equals one convolution with weight
  ``W * g / sqrt(v + eps)`` and bias ``(b - m) * g / sqrt(v + eps) + beta``.

:func:`fuse_for_inference` applies both to a copy of a model; the original is left untouched.
The fused model has different state dict keys (no BatchNorm): it is for inference and export
only, never for training or checkpoints. :func:`compile_for_inference` goes further with
``torch.compile`` on frozen weights (opt-in: compiling takes about a minute per input shape).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .layers import CDConv2d, fold_central_difference


@torch.no_grad()
def fold_cdc(layer: CDConv2d) -> nn.Conv2d:
    """A plain ``nn.Conv2d`` computing the same function as ``layer`` (folded kernel)."""
    c = layer.conv
    out = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.dilation, c.groups,
                    bias=c.bias is not None, padding_mode=c.padding_mode)
    out = out.to(device=c.weight.device, dtype=c.weight.dtype)
    out.weight.copy_(fold_central_difference(c.weight, layer.theta))
    if c.bias is not None:
        out.bias.copy_(c.bias)
    return out


def bn_affine(bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` with ``bn(z) = scale * z + shift`` per channel (eval mode; gamma and beta optional)."""
    if getattr(bn, "running_mean", None) is None or getattr(bn, "running_var", None) is None:
        raise ValueError("cannot fuse a BatchNorm without running statistics (track_running_stats=False)")
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if getattr(bn, "weight", None) is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if getattr(bn, "bias", None) is not None:
        shift = shift + bn.bias
    return scale, shift


@torch.no_grad()
def scaled_conv(conv: nn.Conv2d, scale: torch.Tensor, shift: torch.Tensor) -> nn.Conv2d:
    """A conv computing ``scale * conv(x) + shift`` per output channel."""
    out = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
    out = out.to(device=conv.weight.device, dtype=conv.weight.dtype)
    out.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    bias = conv.bias * scale if conv.bias is not None else torch.zeros_like(scale)
    out.bias.copy_(bias + shift)
    return out


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """One conv equal to ``bn(conv(x))`` with ``bn`` in eval mode (running statistics)."""
    return scaled_conv(conv, *bn_affine(bn))


def fold_all_cdc(model: nn.Module) -> nn.Module:
    """Replace every :class:`CDConv2d` inside ``model`` (in place) by its folded plain conv."""
    for name, child in list(model.named_children()):
        if isinstance(child, CDConv2d):
            setattr(model, name, fold_cdc(child))
        else:
            fold_all_cdc(child)
    return model


def fuse_sequential_conv_bn(model: nn.Module) -> int:
    """Fuse each ``Conv2d`` directly followed by ``BatchNorm2d`` inside any ``nn.Sequential`` (in place).

    The BatchNorm is replaced by ``nn.Identity`` so indices (and the rest of the graph) stay as
    they were. Returns the number of fused pairs. Only pairs inside one Sequential are fused:
    there the conv's output provably feeds the BatchNorm alone.
    """
    count = 0
    for child in model.children():
        count += fuse_sequential_conv_bn(child)
    if isinstance(model, nn.Sequential):
        names = list(model._modules)
        for a, b in zip(names[:-1], names[1:], strict=True):
            conv, bn = model._modules[a], model._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                model._modules[a] = fuse_conv_bn(conv, bn)
                model._modules[b] = nn.Identity()
                count += 1
    return count


def fuse_for_inference(model: nn.Module, inplace_relu: bool = True) -> nn.Module:
    """An eval-mode copy of ``model`` with CDC folded and conv + BatchNorm fused.

    ``inplace_relu`` makes ReLUs in place (saves one tensor per layer; inference only).
    """
    fused = copy.deepcopy(model).eval()
    fold_all_cdc(fused)
    fuse_sequential_conv_bn(fused)
    if inplace_relu:
        for m in fused.modules():
            if isinstance(m, nn.ReLU):
                m.inplace = True
    for p in fused.parameters():
        p.requires_grad_(False)
    return fused


def fuse_gradient_blocks(model: nn.Module) -> int:
    """Let every sub-module with a ``fuse_bn_()`` method fuse its own BatchNorms (in place); returns how many did.

    Blocks whose BatchNorms sit where no sequential conv-BN pair shows it (FAS-SGTD's RSGB sums two
    branches before its BN) know their own algebra; ``fuse_bn_()`` returns False when a block
    cannot be fused (or already is).
    """
    return sum(bool(m.fuse_bn_()) for m in list(model.modules()) if callable(getattr(m, "fuse_bn_", None)))


def fuse_model(model: nn.Module) -> nn.Module:
    """Inference copy of ``model``: CDC folded, conv + BatchNorm fused, blocks with ``fuse_bn_()`` fused."""
    fused = fuse_for_inference(model)
    fuse_gradient_blocks(fused)
    return fused


def compile_for_inference(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` under ``torch.compile`` with frozen weights (inference only).

    Inductor's freezing treats the weights as constants: BatchNorm folding, oneDNN weight packing
    and fused element-wise loops are done once, at the first call for each input shape. That
    first call compiles (about a minute per shape for FAS-SGTD on a 2-core CPU, and it needs a
    C++ compiler); later weight changes of ``model`` are not seen by the copy.
    """
    frozen = copy.deepcopy(model).eval()
    frozen.requires_grad_(False)
    return torch.compile(frozen, options={"freezing": True})
