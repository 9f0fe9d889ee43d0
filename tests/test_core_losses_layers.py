"""Contrast depth loss against a literal loop, and the shared layers."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fas_core.layers import CDConv2d, gradient_magnitude, sobel_xy
from fas_core.losses import contrast_depth, contrast_depth_loss, depth_loss


def _literal_contrast(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Neighbour minus centre for the 8 neighbours, written out with slicing."""
    if padding:
        x = F.pad(x, (1, 1, 1, 1))
    h, w = x.shape[-2:]
    centre = x[:, 1:h - 1, 1:w - 1]
    outs = []
    for dr, dc in [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]:
        outs.append(x[:, 1 + dr:h - 1 + dr, 1 + dc:w - 1 + dc] - centre)
    return torch.stack(outs, 1)


def test_contrast_matches_literal_both_paddings():
    torch.manual_seed(0)
    x = torch.rand(2, 32, 32)
    assert contrast_depth(x).shape == (2, 8, 30, 30)
    assert contrast_depth(x, padding=1).shape == (2, 8, 32, 32)
    for pad in (0, 1):
        assert torch.allclose(contrast_depth(x, pad), _literal_contrast(x, pad), atol=1e-6)


def test_contrast_loss_hand_value():
    pred = torch.zeros(1, 3, 3)
    pred[0, 1, 1] = 1.0  # one peak: every kernel gives -1 at the centre
    target = torch.zeros(1, 3, 3)
    assert contrast_depth_loss(pred, target).item() == 1.0  # 8 responses of -1, squared mean 1
    # flat maps have no contrast: depth_loss reduces to MSE
    assert depth_loss(torch.full((1, 4, 4), 0.5), torch.zeros(1, 4, 4)).item() == 0.25


def test_sobel_and_magnitude_hand_values():
    x = torch.tensor([[[[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]]])
    gx, gy = sobel_xy(x)
    # cross-correlation with zero padding: the response at (1,0) sees the 1 on its right with weight +2
    assert gx[0, 0, 1, 0].item() == 2.0 and gx[0, 0, 1, 2].item() == -2.0 and gx[0, 0, 1, 1].item() == 0.0
    assert gy[0, 0, 0, 1].item() == -2.0 and gy[0, 0, 2, 1].item() == 2.0
    mag = gradient_magnitude(x)
    assert abs(mag[0, 0, 0, 0].item() - (1.0 + 1.0 + 1e-8) ** 0.5) < 1e-6  # corner: gx=-1? gy=-1
    assert abs(mag[0, 0, 1, 1].item() - 1e-4) < 1e-6  # sqrt(eps) where there is no gradient


def test_cdc_folded_equals_literal_with_gradients():
    torch.manual_seed(1)
    conv = CDConv2d(3, 5, theta=0.7)
    x = torch.randn(2, 3, 9, 9, requires_grad=True)
    y1 = conv(x)
    g1 = torch.autograd.grad(y1.square().sum(), [x, conv.conv.weight])
    y2 = conv.forward_literal(x)
    g2 = torch.autograd.grad(y2.square().sum(), [x, conv.conv.weight])
    assert torch.allclose(y1, y2, atol=1e-5)
    for a, b in zip(g1, g2, strict=True):
        assert torch.allclose(a, b, atol=1e-4)
    plain = CDConv2d(3, 5, theta=0.0)
    assert torch.allclose(plain(x), plain.conv(x))
