"""CDCN, CDCN++ and CDCN_u (CDCN + depth uncertainty module), ``docs/methods/dum.md``.

Module names follow the original code and the released ``CDCN_U_P1.pkl`` (``conv1``,
``Block1..3``, ``lastconv1..3``, ``mu_head``, ``logvar_head``, ``sa1..3``), so that released
state dicts load after stripping DataParallel's ``module.`` prefix.

Every convolution of the backbone is a central difference convolution
(:class:`fas_core.layers.CDConv2d`), computed as one folded 3x3 conv; ``literal=True`` builds
the two-convolution form of the paper (tests and benchmarks compare the two).

Input size: the paper uses 256x256 faces and predicts 32x32 depth. Any size divisible by 8
works; the multi-scale features are resized to the size of ``Block3``'s output (input / 8), which
for 256 is the original's fixed 32x32.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fas_core.layers import CDConv2d
from fas_core.layers import set_literal as set_cdc_literal

# Channel widths of each block's convolutions (docs/methods/dum.md, "CDCN" and "CDCN++").
CDCN_WIDTHS: dict[str, tuple[int, ...]] = {
    "Block1": (64, 128, 196, 128),
    "Block2": (128, 128, 196, 128),
    "Block3": (128, 128, 196, 128),
}
# The searched CDCN++ widths: int(128 * 1.6) = 204, int(128 * 1.2) = 153, int(128 * 1.4) = 179.
CDCNPP_WIDTHS: dict[str, tuple[int, ...]] = {
    "Block1": (64, 128, 204, 128),
    "Block2": (128, 153, 128, 179, 128),
    "Block3": (128, 128, 153, 128),
}
ATTENTION_KERNELS = (7, 5, 3)  # CDCN++ spatial attention after Block1, Block2, Block3

MODEL_NAMES = ("cdcn", "cdcnpp", "cdcn_u")


def cdc_bn_relu(cin: int, cout: int, theta: float, literal: bool) -> list[nn.Module]:
    """``[CDConv2d(3x3, no bias), BatchNorm2d, ReLU]``: the unit every CDCN stage is made of.

    Outside the literal form the ReLU works in place: BatchNorm's backward reads its input, not
    its output, so overwriting the output saves one tensor per unit.
    """
    return [CDConv2d(cin, cout, 3, 1, 1, bias=False, theta=theta, literal=literal), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=not literal)]


def cdc_block(widths: Sequence[int], theta: float, literal: bool) -> nn.Sequential:
    """Conv units through ``widths`` then MaxPool(3, stride 2, padding 1); indices as the original."""
    layers: list[nn.Module] = []
    for cin, cout in zip(widths[:-1], widths[1:], strict=True):
        layers += cdc_bn_relu(cin, cout, theta, literal)
    layers.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    return nn.Sequential(*layers)


class SpatialAttention(nn.Module):
    """CDCN++ spatial attention: ``sigmoid(conv_k([mean_c(x), max_c(x)]))`` (no bias)."""

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 1, kernel_size=kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv1(pooled))


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (``align_corners=False``, the original ``nn.Upsample``); a no-op at the same size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class _CDCBackbone(nn.Module):
    """``conv1`` and ``Block1..3``; :meth:`multiscale` returns the 384-channel concatenation."""

    def __init__(self, widths: dict[str, tuple[int, ...]], theta: float, literal: bool) -> None:
        super().__init__()
        self.theta = theta
        self.conv1 = nn.Sequential(*cdc_bn_relu(3, 64, theta, literal))
        self.Block1 = cdc_block(widths["Block1"], theta, literal)
        self.Block2 = cdc_block(widths["Block2"], theta, literal)
        self.Block3 = cdc_block(widths["Block3"], theta, literal)

    def blocks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if x.dim() != 4 or x.size(1) != 3 or x.size(-1) % 8 or x.size(-2) % 8:
            raise ValueError(f"expected input [B, 3, H, W] with H, W divisible by 8, got {tuple(x.shape)}")
        b1 = self.Block1(self.conv1(x))
        b2 = self.Block2(b1)
        b3 = self.Block3(b2)
        return b1, b2, b3

    def multiscale(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        size = tuple(feats[-1].shape[-2:])
        return torch.cat([resize_to(f, size) for f in feats], dim=1)


class CDCN(_CDCBackbone):
    """CDCN (Yu et al., CVPR 2020): depth map ``[B, H/8, W/8]`` (32x32 for 256x256 input), >= 0."""

    uncertainty = False

    def __init__(self, theta: float = 0.7, literal: bool = False) -> None:
        super().__init__(CDCN_WIDTHS, theta, literal)
        self.lastconv1 = nn.Sequential(*cdc_bn_relu(384, 128, theta, literal))
        self.lastconv2 = nn.Sequential(*cdc_bn_relu(128, 64, theta, literal))
        self.lastconv3 = nn.Sequential(CDConv2d(64, 1, 3, 1, 1, bias=False, theta=theta, literal=literal),
                                       nn.ReLU(inplace=not literal))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.multiscale(self.blocks(x))
        return self.lastconv3(self.lastconv2(self.lastconv1(x))).squeeze(1)


class CDCNpp(_CDCBackbone):
    """CDCN++: searched block widths, spatial attention on the multi-scale branch, 384 -> 128 -> 1 head."""

    uncertainty = False

    def __init__(self, theta: float = 0.7, literal: bool = False) -> None:
        super().__init__(CDCNPP_WIDTHS, theta, literal)
        # One Sequential as the original (keys lastconv1.{0,1,3}); the map passes a final ReLU.
        self.lastconv1 = nn.Sequential(*cdc_bn_relu(384, 128, theta, literal),
                                       CDConv2d(128, 1, 3, 1, 1, bias=False, theta=theta, literal=literal),
                                       nn.ReLU(inplace=not literal))
        self.sa1, self.sa2, self.sa3 = (SpatialAttention(k) for k in ATTENTION_KERNELS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1, b2, b3 = self.blocks(x)
        # Attention re-weights the multi-scale branch only; the next block sees the raw features.
        feats = [sa(b) * b for sa, b in zip((self.sa1, self.sa2, self.sa3), (b1, b2, b3), strict=True)]
        return self.lastconv1(self.multiscale(feats)).squeeze(1)


class CDCN_u(_CDCBackbone):  # noqa: N801 - the original (and released checkpoint's) class name
    """CDCN with the depth uncertainty module (DSDG, TCSVT): ``forward`` returns ``(mu, logvar)``.

    Both ``[B, H/8, W/8]``. Training draws ``mu + randn * exp(logvar / 2)`` (:func:`reparameterize`);
    test time uses ``mu`` (the original samples in eval mode too, which makes scores random).
    """

    uncertainty = True

    def __init__(self, theta: float = 0.7, literal: bool = False) -> None:
        super().__init__(CDCN_WIDTHS, theta, literal)
        self.lastconv1 = nn.Sequential(*cdc_bn_relu(384, 128, theta, literal))
        self.lastconv2 = nn.Sequential(*cdc_bn_relu(128, 64, theta, literal))
        # Plain convs (no CDC, no ReLU): mu may be negative, logvar is unconstrained.
        self.mu_head = nn.Sequential(nn.Conv2d(64, 1, 3, 1, 1, bias=False))
        self.logvar_head = nn.Sequential(nn.Conv2d(64, 1, 3, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.lastconv2(self.lastconv1(self.multiscale(self.blocks(x))))
        return self.mu_head(x).squeeze(1), self.logvar_head(x).squeeze(1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``mu + eps * exp(logvar / 2)``, ``eps ~ N(0, 1)`` (the DUM training sample)."""
    eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device, generator=generator)
    return mu + eps * torch.exp(0.5 * logvar)


def depth_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The depth map used for scoring: the prediction (CDCN, CDCN++) or ``mu`` (CDCN_u)."""
    out = model(x)
    return out[0] if isinstance(out, (tuple, list)) else out


def canonical_name(name: str) -> str:
    """``CDCN++`` -> ``cdcnpp``, ``CDCN-u`` -> ``cdcn_u``: the names of ``fas_core.methods``."""
    key = str(name).lower().replace("+", "p").replace("-", "_")
    if key not in MODEL_NAMES:
        raise ValueError(f"unknown model '{name}'. Known models: {', '.join(MODEL_NAMES)}")
    return key


def build_model(name: str = "cdcn_u", theta: float = 0.7, literal: bool = False) -> nn.Module:
    """``cdcn`` | ``cdcnpp`` | ``cdcn_u`` (names as in ``fas_core.methods``)."""
    classes = {"cdcn": CDCN, "cdcnpp": CDCNpp, "cdcn_u": CDCN_u}
    return classes[canonical_name(name)](theta=theta, literal=literal)


def set_literal(model: nn.Module, literal: bool) -> nn.Module:
    """Switch every CDC layer between the folded (default) and the literal two-conv form.

    The ReLUs follow: in place in the folded form, out of place in the literal one (each follows a
    BatchNorm or a CDC layer, neither of whose backward reads its output).
    """
    set_cdc_literal(model, literal)  # the CDC layers are the modules with a ``literal`` switch
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = not literal
    return model
