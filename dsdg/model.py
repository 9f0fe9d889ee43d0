"""DSDG networks: live/spoof encoders, the paired decoder, the spoof-type classifier (docs/methods/dsdg.md, Networks).

All images are ``3 x 256 x 256`` RGB in ``[0, 1]``. The decoder upsamples a fixed ``4 x 4`` map six
times, so the image size is part of the architecture and is not configurable.

Parameter counts (tested): live encoder 11,692,640; spoof encoder 13,790,048; decoder 19,887,494;
classifier 516 (4 spoof types, hdim 128).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

IMAGE_SIZE = 256  # fixed by the decoder: 4 * 2**6
FEATURE_CHANNELS = 512
FEATURE_SIDE = 4
FLAT = FEATURE_CHANNELS * FEATURE_SIDE * FEATURE_SIDE  # 8192


class ResBlock(nn.Module):
    """Residual block of the DSDG/DVG generator: ``LReLU(IN(conv2(LReLU(IN(conv1(x)))) + shortcut(x)))``.

    The shortcut (a 1x1 conv when the channel count changes) is added *before* the second
    InstanceNorm, which then normalises the sum: the original code's ``bn2(torch.add(output,
    identity_data))``, not the more common ``IN(conv2(...)) + shortcut``. InstanceNorm has eps 1e-3
    and no affine parameters, and the convs have no bias, so the block's parameters are the three
    convs only.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1, bias=False)
                         if in_channels != out_channels else None)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.norm1 = nn.InstanceNorm2d(out_channels, eps=1e-3)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm2 = nn.InstanceNorm2d(out_channels, eps=1e-3)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.act(self.norm1(self.conv1(x)))
        return self.act(self.norm2(self.conv2(out) + identity))


def _trunk() -> nn.Sequential:
    """Shared encoder body: 3x256x256 -> 512x4x4 (conv 5x5/2 + pool, then 4 x (ResBlock + pool), ResBlock)."""
    layers: list[nn.Module] = [nn.Conv2d(3, 32, 5, stride=2, padding=2, bias=False),
                               nn.InstanceNorm2d(32, eps=1e-3), nn.LeakyReLU(0.2), nn.AvgPool2d(2)]
    for cin, cout in ((32, 64), (64, 128), (128, 256), (256, 512)):
        layers += [ResBlock(cin, cout), nn.AvgPool2d(2)]
    layers.append(ResBlock(512, 512))
    return nn.Sequential(*layers)


class _Encoder(nn.Module):
    """The trunk and one linear layer to ``outputs`` vectors of hdim each (``outputs`` set by the subclass)."""

    outputs = 0

    def __init__(self, hdim: int = 128) -> None:
        super().__init__()
        self.hdim = hdim
        self.main = _trunk()
        self.fc = nn.Linear(FLAT, self.outputs * hdim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.fc(self.main(x).flatten(1)).split(self.hdim, dim=1)


class LiveEncoder(_Encoder):
    """Live image -> ``(mu, logvar)`` of the live identity latent (hdim each)."""

    outputs = 2


class SpoofEncoder(_Encoder):
    """Spoof image -> ``(mu_id, logvar_id, mu_type, logvar_type)`` (hdim each, in that order)."""

    outputs = 4


class Decoder(nn.Module):
    """``cat(z_type, z_spoof_id, z_live_id)`` (3*hdim) -> 6x256x256 in [0,1]: channels 0:3 spoof, 3:6 live."""

    def __init__(self, hdim: int = 128) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(3 * hdim, FLAT), nn.ReLU(True))
        up = nn.Upsample(scale_factor=2, mode="nearest")
        self.main = nn.Sequential(
            ResBlock(512, 512), up,  # 8
            ResBlock(512, 512), up,  # 16
            ResBlock(512, 512), up,  # 32
            ResBlock(512, 256), up,  # 64
            ResBlock(256, 128), up,  # 128
            ResBlock(128, 64), ResBlock(64, 64), up,  # 256
            nn.Conv2d(64, 6, 5, padding=2),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z.flatten(1)).view(z.shape[0], FEATURE_CHANNELS, FEATURE_SIDE, FEATURE_SIDE)
        return torch.sigmoid(self.main(x))


class TypeClassifier(nn.Module):
    """Linear spoof-type classifier on ``z_type`` (OULU file codes 2,3,4,5 -> classes 0..3)."""

    def __init__(self, hdim: int = 128, num_types: int = 4) -> None:
        super().__init__()
        self.fc = nn.Linear(hdim, num_types)

    def forward(self, z_type: torch.Tensor) -> torch.Tensor:
        return self.fc(z_type)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, sample: bool = True) -> torch.Tensor:
    """``mu + eps * exp(logvar / 2)`` with ``eps ~ N(0, I)``; ``mu`` itself when ``sample`` is off."""
    if not sample:
        return mu
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


class DSDG(nn.Module):
    """The four trained networks in one module, so one state dict (and one checkpoint) holds them all."""

    def __init__(self, hdim: int = 128, num_types: int = 4, freeze_classifier: bool = False) -> None:
        super().__init__()
        self.hdim = hdim
        self.enc_live = LiveEncoder(hdim)
        self.enc_spoof = SpoofEncoder(hdim)
        self.decoder = Decoder(hdim)
        self.classifier = TypeClassifier(hdim, num_types)
        if freeze_classifier:  # the original never puts the classifier in its optimiser
            for p in self.classifier.parameters():
                p.requires_grad_(False)

    def forward(self, spoof: torch.Tensor, live: torch.Tensor, sample: bool = True) -> dict[str, Any]:
        """Encode a (spoof, live) pair batch, sample the three latents, reconstruct both images.

        Everything happens in one forward so that DDP sees every trained parameter in one call.
        """
        mu_s, logvar_s, mu_t, logvar_t = self.enc_spoof(spoof)
        mu_l, logvar_l = self.enc_live(live)
        z_type = reparameterize(mu_t, logvar_t, sample)
        z_spoof = reparameterize(mu_s, logvar_s, sample)
        z_live = reparameterize(mu_l, logvar_l, sample)
        rec = self.decoder(torch.cat((z_type, z_spoof, z_live), dim=1))
        return {
            "mu_spoof": mu_s, "logvar_spoof": logvar_s, "mu_type": mu_t, "logvar_type": logvar_t,
            "mu_live": mu_l, "logvar_live": logvar_l,
            "z_type": z_type, "z_spoof": z_spoof, "z_live": z_live,
            "type_logits": self.classifier(z_type), "rec": rec,
        }

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        """``n`` new (spoof, live) pairs: decode ``cat(z_type, z_id, z_id)`` with both ~ N(0, I).

        The same identity noise fills both identity slots, so spoof and live show one person.
        Noise is drawn on the CPU from ``generator`` so a seed gives the same pairs on any device.
        """
        z_type, z_id = sample_latents(n, self.hdim, generator)
        device = device or next(self.parameters()).device
        return self.decoder(torch.cat((z_type, z_id, z_id), dim=1).to(device))


def sample_latents(n: int, hdim: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(z_type, z_id)``, each ``[n, hdim]`` ~ N(0, I), drawn on the CPU."""
    z_type = torch.randn(n, hdim, generator=generator)
    z_id = torch.randn(n, hdim, generator=generator)
    return z_type, z_id


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
