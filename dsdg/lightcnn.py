"""LightCNN-29 v2, the frozen identity-feature network of DSDG (docs/methods/dsdg.md, Networks).

Wu et al., "A Light CNN for Deep Face Representation with Noisy Labels" (TIFS 2018). Input
``1 x 128 x 128`` grey in ``[0, 1]``; output the 256-d feature of ``fc``. Module names follow the
official release so its checkpoint loads key for key: ``conv1.filter.weight``,
``block1.0.conv1.filter.weight``, ``group1.conv_a.filter.weight``, ..., ``fc.weight``, ``fc.bias``
(60 keys, 10,475,872 parameters). The released ``LightCNN_29Layers_V2_checkpoint.pth.tar`` is
``{'state_dict': ...}`` of a DataParallel model: ``module.`` prefixes are stripped and the
face-recognition classifier (``fc2``) is dropped. Any other mismatch is an error (the original
DSDG script silently kept a random network when prefixes did not match).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fas_core import checkpoint as ckpt

FEATURE_DIM = 256
INPUT_SIZE = 128


class MFM(nn.Module):
    """Max-feature-map: a conv (or linear) with ``2C`` outputs, then the elementwise max of the halves."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 1, linear: bool = False) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.filter: nn.Module = (nn.Linear(in_channels, 2 * out_channels) if linear else
                                  nn.Conv2d(in_channels, 2 * out_channels, kernel_size, stride, padding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.filter(x).split(self.out_channels, dim=1)
        return torch.maximum(a, b)


class Group(nn.Module):
    """MFM 1x1 (``C -> C``) then MFM 3x3 (``C -> out``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_a = MFM(in_channels, in_channels, 1, 1, 0)
        self.conv = MFM(in_channels, out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv_a(x))


class ResBlock(nn.Module):
    """Two MFM 3x3 convs and an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = MFM(channels, channels)
        self.conv2 = MFM(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x)) + x


def _pool(x: torch.Tensor) -> torch.Tensor:
    """LightCNN's pooling: max pool and average pool (2x2), added."""
    return F.max_pool2d(x, 2) + F.avg_pool2d(x, 2)


class LightCNN29v2(nn.Module):
    """Feature extractor (no classifier): ``[N, 1, 128, 128] -> [N, 256]``."""

    def __init__(self, blocks: tuple[int, int, int, int] = (1, 2, 3, 4)) -> None:
        super().__init__()
        self.conv1 = MFM(1, 48, 5, 1, 2)
        self.block1 = nn.Sequential(*[ResBlock(48) for _ in range(blocks[0])])
        self.group1 = Group(48, 96)
        self.block2 = nn.Sequential(*[ResBlock(96) for _ in range(blocks[1])])
        self.group2 = Group(96, 192)
        self.block3 = nn.Sequential(*[ResBlock(192) for _ in range(blocks[2])])
        self.group3 = Group(192, 128)
        self.block4 = nn.Sequential(*[ResBlock(128) for _ in range(blocks[3])])
        self.group4 = Group(128, 128)
        self.fc = nn.Linear(8 * 8 * 128, FEATURE_DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _pool(self.conv1(x))
        x = _pool(self.group1(self.block1(x)))
        x = _pool(self.group2(self.block2(x)))
        x = self.group3(self.block3(x))
        x = _pool(self.group4(self.block4(x)))
        return self.fc(x.flatten(1))


def is_classifier_key(key: str) -> bool:
    """The released checkpoint's face-recognition head (``fc2``; ``fc2_`` in some copies)."""
    return key.startswith(("fc2.", "fc2_."))


def load_lightcnn(path: str | Path, device: torch.device | str = "cpu") -> LightCNN29v2:
    """Build LightCNN-29 v2, load the official checkpoint at ``path`` and freeze it (eval mode).

    Raises :class:`fas_core.checkpoint.CheckpointMismatchError` naming every missing, unexpected
    or mis-shaped key when the file is not a LightCNN-29 v2 checkpoint.
    """
    net = LightCNN29v2()
    ckpt.load_weights(net, path, ignore=is_classifier_key)
    return freeze(net).to(device)


def freeze(net: nn.Module) -> nn.Module:
    """No parameter updates, eval mode; gradients still flow through it to its input."""
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


def rgb_to_grey(x: torch.Tensor) -> torch.Tensor:
    """``[N, 3, H, W]`` RGB -> ``[N, 1, H, W]`` with weights 0.299, 0.587, 0.114."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def identity_features(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """L2-normalised LightCNN features of RGB images in [0, 1]: bilinear resize to 128, grey, fc."""
    x = F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return F.normalize(net(rgb_to_grey(x)), p=2, dim=1)
