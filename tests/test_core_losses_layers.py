"""Contrast depth loss against a literal loop, and the shared layers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fas_core import sobel
from fas_core.layers import (
    CDConv2d,
    add_pointwise_conv_,
    gradient_magnitude,
    is_channels_last,
    preferred_layout,
    sobel_xy,
    sobel_xy_shifted,
)
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


# ----------------------------------------------------------------------------- fast Sobel forms
def _layouts(x: torch.Tensor) -> list[torch.Tensor]:
    return [x.contiguous(), x.contiguous(memory_format=torch.channels_last)]


def test_shifted_sobel_hand_values_in_both_layouts():
    # a single 1 at (1, 2) of a 3x4 map: Sx(x)[i, j] = sum Kx[di][dj] x[i+di-1, j+dj-1]
    img = torch.zeros(1, 2, 3, 4)
    img[0, :, 1, 2] = 1.0
    for x in _layouts(img):
        gx, gy = sobel_xy_shifted(x)
        # the 1 sits right of (1, 1) with weight +2, left of (1, 3) with weight -2, diagonal taps +-1
        assert gx[0, 0, 1, 1].item() == 2.0 and gx[0, 0, 1, 3].item() == -2.0 and gx[0, 0, 0, 1].item() == 1.0
        assert gx[0, 0, 1, 2].item() == 0.0 and gx[0, 1, 2, 3].item() == -1.0
        # Sy: the 1 is below (0, 2) with weight -2, above (2, 2) with weight +2
        assert gy[0, 0, 0, 2].item() == -2.0 and gy[0, 0, 2, 2].item() == 2.0 and gy[0, 0, 0, 3].item() == -1.0
        assert gy[0, 0, 1, 2].item() == 0.0 and gy[0, 0, 1, 0].item() == 0.0


def test_shifted_sobel_and_magnitude_equal_the_depthwise_form():
    torch.manual_seed(3)
    for shape in [(2, 3, 9, 7), (1, 4, 1, 6), (1, 2, 2, 2), (3, 1, 5, 5)]:
        for x in _layouts(torch.randn(*shape)):
            for fast, ref in zip(sobel_xy_shifted(x), sobel_xy(x), strict=True):
                assert torch.allclose(fast, ref, atol=1e-5)
            assert torch.allclose(gradient_magnitude(x), gradient_magnitude(x, literal=True), atol=1e-5)


def test_magnitude_and_sobel_backward_pass_gradcheck():
    """The hand-written backward passes against finite differences (float64), in both layouts."""
    torch.manual_seed(4)
    for x in _layouts(torch.randn(2, 3, 6, 5, dtype=torch.float64)):
        x.requires_grad_(True)
        assert torch.autograd.gradcheck(gradient_magnitude, (x,))
        assert torch.autograd.gradcheck(sobel_xy_shifted, (x,))


def test_fast_magnitude_gradient_equals_autograd_of_literal():
    torch.manual_seed(5)
    x = torch.randn(2, 4, 12, 10, requires_grad=True)
    weight = torch.randn(2, 4, 12, 10)
    (g_fast,) = torch.autograd.grad((gradient_magnitude(x) * weight).sum(), x)
    (g_lit,) = torch.autograd.grad((gradient_magnitude(x, literal=True) * weight).sum(), x)
    assert torch.allclose(g_fast, g_lit, atol=1e-4)


def test_chunked_planes_equal_whole_tensor(monkeypatch):
    """With chunks of two 5x5 planes the chunk borders fall inside a sample: same values and gradients."""
    torch.manual_seed(6)
    x = torch.randn(3, 5, 5, 5, requires_grad=True)
    ref_mag = gradient_magnitude(x, literal=True)
    ref_grad = torch.autograd.grad(ref_mag.sum() + sum(g.sum() for g in sobel_xy(x)), x)[0]
    monkeypatch.setattr(sobel, "CHUNK_ELEMENTS", 50)
    mag = gradient_magnitude(x)
    grad = torch.autograd.grad(mag.sum() + sum(g.sum() for g in sobel_xy_shifted(x)), x)[0]
    with torch.no_grad():
        assert torch.allclose(gradient_magnitude(x), ref_mag, atol=1e-5)
    assert torch.allclose(mag, ref_mag, atol=1e-5) and torch.allclose(grad, ref_grad, atol=1e-4)


def test_add_pointwise_conv_accumulates_in_place():
    torch.manual_seed(7)
    weight = torch.randn(5, 3, 1, 1)
    for out, x in zip(_layouts(torch.randn(2, 5, 4, 6)), _layouts(torch.randn(2, 3, 4, 6)), strict=True):
        expect = out + torch.einsum("oc,nchw->nohw", weight[:, :, 0, 0], x)
        ptr = out.data_ptr()
        result = add_pointwise_conv_(out, x, weight)
        assert result.data_ptr() == ptr and torch.allclose(out, expect, atol=1e-5)


def test_add_pointwise_conv_under_bf16_autocast_takes_float_weights():
    """Autocast hands bf16 channels-last activations to a float weight; the sum must still be the 1x1 conv."""
    torch.manual_seed(7)
    weight = torch.randn(5, 3, 1, 1)
    x = torch.randn(2, 3, 4, 6).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    out = torch.randn(2, 5, 4, 6).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    expect = out.float() + torch.einsum("oc,nchw->nohw", weight[:, :, 0, 0], x.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        result = add_pointwise_conv_(out, x, weight)
    assert result.dtype == torch.bfloat16 and torch.allclose(result.float(), expect, atol=0.1, rtol=0.02)


def test_preferred_layout_channels_last_only_without_gradients():
    conv = nn.Conv2d(3, 4, 3)
    x = torch.randn(1, 3, 8, 8)
    cl = x.contiguous(memory_format=torch.channels_last)
    assert preferred_layout(cl, conv).is_contiguous()  # autograd records the parameters: NCHW for the backward
    with torch.no_grad():
        assert is_channels_last(preferred_layout(x, conv))
    conv.requires_grad_(False)  # a frozen module on an input without gradient: nothing is recorded
    assert is_channels_last(preferred_layout(x, conv))
    assert preferred_layout(x.requires_grad_(True), conv).is_contiguous()
