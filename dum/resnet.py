"""ResNet18_u: the DUM paper's second backbone, a small ResNet with the depth uncertainty heads (docs/methods/dum.md).

The original (``DUM/models/ResNet_u.py`` of the DSDG code) is a CIFAR-style ResNet-18 with plain
convolutions: ``conv1`` 3x3 3 -> 64 (stride 1) with BatchNorm and ReLU, then four stages of two
residual blocks (64, 128, 196, 256 channels; stride 1, 2, 2, 2). Each block is ``conv3x3 -> BN ->
ReLU -> conv3x3 -> BN`` plus a shortcut (``conv1x1 -> BN`` where the stride or width changes),
then ReLU. The outputs of stages 2, 3 and 4 (input / 2, / 4, / 8) are resized bilinearly to the
last one's size (32x32 for a 256x256 input) and concatenated (128 + 196 + 256 = 580 channels);
``lastconv1`` (580 -> 128) and ``lastconv2`` (128 -> 64), each conv3x3 + BN + ReLU, feed the two
plain 3x3 heads ``mu_head`` and ``logvar_head`` (64 -> 1, no bias, no activation), as CDCN_u's.

The original also defines ``lastconv3`` (conv3x3 64 -> 1 + ReLU, 576 weights) but never calls it;
it is left out here (an unused parameter would stop DDP), and the released-weights filter drops
it from an original state dict. Module names are the original's, so its state dicts load.
"""

from __future__ import annotations

import torch
from torch import nn

from .model import resize_to

STAGE_WIDTHS = (64, 128, 196, 256)
STAGE_STRIDES = (1, 2, 2, 2)
BLOCKS_PER_STAGE = 2


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """``[Conv2d 3x3 (no bias), BatchNorm2d, ReLU]`` (``conv1``, ``lastconv1``, ``lastconv2``)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ResidualBlock(nn.Module):
    """``ReLU(left(x) + shortcut(x))``; ``left``: conv-BN-ReLU-conv-BN; the shortcut projects when shapes change."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.left = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.left(x) + self.shortcut(x))


def make_stage(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Two blocks; the first one strides (the original's ``make_layer``)."""
    blocks = [ResidualBlock(cin, cout, stride)]
    blocks += [ResidualBlock(cout, cout, 1) for _ in range(BLOCKS_PER_STAGE - 1)]
    return nn.Sequential(*blocks)


class ResNet18_u(nn.Module):  # noqa: N801 - the original's name
    """``forward`` returns ``(mu, logvar)``, both ``[B, H/8, W/8]`` (32x32 for 256x256 input), as :class:`CDCN_u`."""

    uncertainty = True

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu(3, STAGE_WIDTHS[0])
        cins = (STAGE_WIDTHS[0], *STAGE_WIDTHS[:-1])
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            make_stage(cin, cout, stride) for cin, cout, stride in zip(cins, STAGE_WIDTHS, STAGE_STRIDES, strict=True))
        self.lastconv1 = conv_bn_relu(sum(STAGE_WIDTHS[1:]), 128)
        self.lastconv2 = conv_bn_relu(128, 64)
        self.mu_head = nn.Sequential(nn.Conv2d(64, 1, 3, 1, 1, bias=False))
        self.logvar_head = nn.Sequential(nn.Conv2d(64, 1, 3, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 4 or x.size(1) != 3 or x.size(-1) % 8 or x.size(-2) % 8:
            raise ValueError(f"expected input [B, 3, H, W] with H, W divisible by 8, got {tuple(x.shape)}")
        b2 = self.layer2(self.layer1(self.conv1(x)))
        b3 = self.layer3(b2)
        b4 = self.layer4(b3)
        size = tuple(b4.shape[-2:])
        feats = torch.cat([resize_to(b, size) for b in (b2, b3, b4)], dim=1)
        x = self.lastconv2(self.lastconv1(feats))
        return self.mu_head(x).squeeze(1), self.logvar_head(x).squeeze(1)
