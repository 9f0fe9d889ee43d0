"""FAS-SGTD multi-frame: the Spatio-Temporal Propagation Module on a frozen FaceMapNet (docs/methods/fas_sgtd.md).

Wang et al., CVPR 2020, Sec. 3.2 ("Spatio-Temporal Propagation Module", STPM): a short-term
block per pair of neighbouring frames (:class:`OFFB`, the paper's short-term spatio-temporal
block; ``OFFNet`` in the released code), a cascade over the three feature levels, and a
long-term :class:`ConvGRU` over the pairs; its depth maps are fused with the single-frame maps
and a small classifier adds a live/attack probability.

Fixed here (docs/methods/fas_sgtd.md "Multi-frame network"), each with a switch back to the original:

* the original runs its ConvGRU time-major on ``[B, 4, ...]``: with its per-GPU batch of 1 it
  never recurs. Default: recur over the 4 pairs; ``gru_recurrent=False`` starts every pair from
  ``h = 0`` as the original effectively does;
* the original puts a ReLU on the two logits, a softmax after them and another softmax inside
  the loss; default: one softmax; ``legacy_double_softmax=True`` restores the original;
* the original's reshapes mix samples when a GPU holds more than one clip; here every tensor
  keeps its ``[batch, time, ...]`` layout, so any batch size works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fas_core.layers import preferred_layout, sobel_xy, sobel_xy_shifted
from fas_sgtd_single_frame.model import (
    TF_BN_EPS,
    TF_BN_MOMENTUM,
    FaceMapNet,
    SlimBatchNorm2d,
    depth_score,
    finite_or_zero,
    glorot_init,
    l2_penalty,
    scaled,
    tf_legacy_resize,
)

LIVE_CLASS = 0  # the original's one-hot labels: class 0 = live, class 1 = attack


class OFFB(nn.Module):
    """Short-term spatio-temporal block for one feature level (paper Sec. 3.2; ``OFFNet`` ``OFFBlock``).

    For features ``F_t`` of frames t = 0..T-1: ``r = BN(ReLU(conv1x1(F -> 32)))``, Sobel x/y of
    ``r``, temporal gradient ``r_t - r_{t+1}``; per pair (t, t+1)
    ``concat[F_t, Sx_t, Sy_t, Sx_{t+1}, Sy_{t+1}, r_t - r_{t+1}]`` (128 + 5 * 32 = 288 channels)
    -> ``ReLU(conv3x3 -> 128)`` -> MaxPool 2. ``[B, T, C, H, W] -> [B, T-1, C, H/2, W/2]``.

    The default forward splits the 3x3 convolution by input channels (it is linear in them):
    ``conv(F_t, W[:, :C]) + conv(concat[Sobel, temporal], W[:, C:])``. The frozen features are then
    neither copied into the concatenation nor given an input gradient in the backward pass.
    ``literal=True`` builds the 288-channel concatenation as written above.
    """

    def __init__(self, channels: int, reduced: int = 32, bn_momentum: float = TF_BN_MOMENTUM,
                 bn_eps: float = TF_BN_EPS, literal: bool = False) -> None:
        super().__init__()
        self.literal = literal
        self.reduce = nn.Conv2d(channels, reduced, 1)  # OFFNet_conv_<l>_off
        self.reduce_bn = SlimBatchNorm2d(reduced, bn_momentum, bn_eps)  # OFFNet_bn_<l>_off
        self.fuse = nn.Conv2d(channels + 5 * reduced, channels, 3, padding=1)  # OFFNet_linear_<l>_off

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if self.literal:
            return self.forward_literal(feats)
        feats = preferred_layout(feats, self)
        b, t, c, h, w = feats.shape
        r = self.reduce_bn(F.relu(self.reduce(feats.flatten(0, 1)), inplace=True))
        gx, gy = sobel_xy_shifted(r)
        r, gx, gy = (v.unflatten(0, (b, t)) for v in (r, gx, gy))
        motion = torch.cat([pairs_of(gx, 0), pairs_of(gy, 0), pairs_of(gx, 1), pairs_of(gy, 1),
                            pairs_of(r, 0) - pairs_of(r, 1)], dim=1)
        weight = self.fuse.weight
        out = F.conv2d(motion, weight[:, c:], self.fuse.bias, padding=1)
        out.add_(F.conv2d(pairs_of(feats, 0), weight[:, :c], padding=1))
        out = F.max_pool2d(out.relu_(), 2)
        return out.unflatten(0, (b, t - 1))

    def forward_literal(self, feats: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = feats.shape
        r = self.reduce_bn(F.relu(self.reduce(feats.flatten(0, 1))))
        gx, gy = sobel_xy(r)
        r, gx, gy = (v.view(b, t, -1, h, w) for v in (r, gx, gy))
        pairs = torch.cat([feats[:, :-1], gx[:, :-1], gy[:, :-1], gx[:, 1:], gy[:, 1:], r[:, :-1] - r[:, 1:]], dim=2)
        out = F.max_pool2d(F.relu(self.fuse(pairs.flatten(0, 1))), 2)
        return out.view(b, t - 1, c, h // 2, w // 2)


def pairs_of(seq: torch.Tensor, offset: int) -> torch.Tensor:
    """Frames ``offset .. T-2+offset`` of ``[B, T, C, H, W]`` as one batch ``[B * (T-1), C, H, W]``.

    ``offset`` 0 gives the first frame of every pair, 1 the second. A view when the batch holds
    one clip; otherwise a copy that keeps channels-last data channels-last.
    """
    frames = seq[:, offset:seq.shape[1] - 1 + offset]
    if frames.stride(2) != 1 or frames.shape[2] == 1:
        return frames.flatten(0, 1)
    return frames.permute(0, 1, 3, 4, 2).flatten(0, 1).permute(0, 3, 1, 2)


class ConvGRUCell(nn.Module):
    """Convolutional GRU cell (paper Sec. 3.2, long-term propagation; the original's ``ConvGRUCell``).

    ``r, u = sigmoid(conv([x, h]) + b)`` with ``b`` initialised to 1; ``c = tanh(conv([x, r * h]))``;
    ``h' = u * h + (1 - u) * c``. Kernels Glorot-uniform (TF's ``get_variable`` default), no L2.
    """

    def __init__(self, in_channels: int, filters: int, kernel: int = 3) -> None:
        super().__init__()
        self.filters = filters
        self.gates = nn.Conv2d(in_channels + filters, 2 * filters, kernel, padding=kernel // 2)
        self.candidate = nn.Conv2d(in_channels + filters, filters, kernel, padding=kernel // 2)
        for conv, bias in ((self.gates, 1.0), (self.candidate, 0.0)):
            nn.init.xavier_uniform_(conv.weight)
            nn.init.constant_(conv.bias, bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        if h is None:
            h = x.new_zeros(x.shape[0], self.filters, *x.shape[-2:])
        r, u = torch.sigmoid(self.gates(torch.cat([x, h], dim=1))).chunk(2, dim=1)
        c = torch.tanh(self.candidate(torch.cat([x, r * h], dim=1)))
        return u * h + (1 - u) * c


class ConvGRU(nn.Module):
    """Two stacked ConvGRU cells (64 filters, then 1) over a sequence ``[B, N, C, h, w] -> [B, N, 1, h, w]``.

    ``recurrent=False`` starts every step from ``h = 0``: the released code's behaviour (its
    time-major call on a per-GPU batch of one clip gives a single time step).
    """

    def __init__(self, in_channels: int, hidden: int = 64, recurrent: bool = True) -> None:
        super().__init__()
        self.recurrent = recurrent
        self.cell_1 = ConvGRUCell(in_channels, hidden)
        self.cell_2 = ConvGRUCell(hidden, 1)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        if not self.recurrent:  # every step independent: run them as one batch
            b, n = seq.shape[:2]
            out = self.cell_2(self.cell_1(seq.flatten(0, 1)))
            return out.view(b, n, *out.shape[1:])
        h1 = h2 = None
        outs = []
        for i in range(seq.shape[1]):
            h1 = self.cell_1(seq[:, i], h1)
            h2 = self.cell_2(h1, h2)
            outs.append(h2)
        return torch.stack(outs, dim=1)


class STPM(nn.Module):
    """Spatio-Temporal Propagation Module (paper Sec. 3.2): OFFB per level, cascade, ConvGRU.

    Input: the frozen network's ``rgc1_3``, ``rgc2_3``, ``rgc3_3`` features of T frames
    (``[B, T, C, S, S]``, ``S/2``, ``S/4``). Cascade (conv -> ReLU -> BN, as the original):
    ``down(level1) ++ level2 -> conv3x3 128``, ``down(.) ++ level3 -> conv3x3 128``,
    ``conv3x3 128``; then the ConvGRU over the T-1 pairs -> ``[B, T-1, 1, S/8, S/8]``.
    """

    def __init__(self, channels: int = 128, width: float = 1.0, recurrent: bool = True,
                 bn_momentum: float = TF_BN_MOMENTUM, bn_eps: float = TF_BN_EPS, literal: bool = False) -> None:
        super().__init__()
        reduced, mid, hidden = scaled(32, width), scaled(128, width), scaled(64, width)
        self.off_1, self.off_2, self.off_3 = (OFFB(channels, reduced, bn_momentum, bn_eps, literal) for _ in range(3))
        self.cascade_conv_1 = nn.Conv2d(2 * channels, mid, 3, padding=1)
        self.cascade_bn_1 = SlimBatchNorm2d(mid, bn_momentum, bn_eps)
        self.cascade_conv_2 = nn.Conv2d(mid + channels, mid, 3, padding=1)
        self.cascade_bn_2 = SlimBatchNorm2d(mid, bn_momentum, bn_eps)
        self.conv_4_1 = nn.Conv2d(mid, mid, 3, padding=1)
        self.bn_4_1 = SlimBatchNorm2d(mid, bn_momentum, bn_eps)
        self.gru = ConvGRU(mid, hidden, recurrent)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        l1, l2, l3 = self.off_1(feats[0]), self.off_2(feats[1]), self.off_3(feats[2])
        b, n = l1.shape[:2]
        l1, l2, l3 = l1.flatten(0, 1), l2.flatten(0, 1), l3.flatten(0, 1)
        x = torch.cat([tf_legacy_resize(l1, l2.shape[-1]), l2], dim=1)
        # conv -> ReLU -> BN; a convolution's backward does not read its output: ReLU in place
        x = self.cascade_bn_1(F.relu(self.cascade_conv_1(x), inplace=True))
        x = torch.cat([tf_legacy_resize(x, l3.shape[-1]), l3], dim=1)
        x = self.cascade_bn_2(F.relu(self.cascade_conv_2(x), inplace=True))
        x = self.bn_4_1(F.relu(self.conv_4_1(x), inplace=True))
        return self.gru(x.unflatten(0, (b, n)))

    def regularised_weights(self) -> list[torch.Tensor]:
        """Conv kernels under slim's L2 regulariser (OFFB, cascade); the GRU's have none."""
        return [m.weight for name, m in self.named_modules() if isinstance(m, nn.Conv2d) and not name.startswith("gru")]


class TemporalHead(nn.Module):
    """Everything the multi-frame stage trains: STPM, fusion with the single-frame maps, classifier.

    ``forward(single_depth [B, T, 1, s, s], features)`` returns ``fused`` ``[B, T-1, 1, s, s]``
    (``(1 - beta) * GRU_i + beta * single_depth_i``), ``logits`` (what the cross-entropy reads)
    and ``p_live`` ``[B]``. Classifier: channel mean of the fused maps -> flatten (s*s) -> FC 64 +
    ReLU -> FC 2 (docs/methods/fas_sgtd.md; ``SoftmaxNet`` in the released code).
    """

    def __init__(self, channels: int, map_size: int, width: float = 1.0, beta: float = 0.4,
                 recurrent: bool = True, legacy_double_softmax: bool = False,
                 bn_momentum: float = TF_BN_MOMENTUM, bn_eps: float = TF_BN_EPS, literal: bool = False) -> None:
        super().__init__()
        self.beta, self.legacy_double_softmax = beta, legacy_double_softmax
        self.stpm = STPM(channels, width, recurrent, bn_momentum, bn_eps, literal)
        self.fc_1 = nn.Linear(map_size * map_size, 64)
        self.fc_2 = nn.Linear(64, 2)
        for name, m in self.named_modules():  # Glorot everywhere but the GRU (its gate bias starts at 1)
            if isinstance(m, (nn.Conv2d, nn.Linear)) and not name.startswith("stpm.gru"):
                glorot_init(m)

    def forward(self, single_depth: torch.Tensor, feats: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        gru = self.stpm(feats)
        fused = (1 - self.beta) * gru + self.beta * single_depth[:, : gru.shape[1]]
        z = F.relu(self.fc_1(fused.mean(dim=1).flatten(1)))
        logits = self.fc_2(z)
        if self.legacy_double_softmax:
            # The original: ReLU on the logits and a softmax; its loss applies a second softmax to
            # these probabilities, and its test score reads them directly.
            probs = torch.softmax(F.relu(logits), dim=1)
            logits = probs
        else:
            probs = torch.softmax(logits, dim=1)
        return {"fused": fused, "gru": gru, "logits": logits, "p_live": probs[:, LIVE_CLASS]}

    def regularised_weights(self) -> list[torch.Tensor]:
        return self.stpm.regularised_weights() + [self.fc_1.weight, self.fc_2.weight]

    def l2_penalty(self, weight: float) -> torch.Tensor:
        return l2_penalty(self.regularised_weights(), weight)


class FASSGTDMultiFrame(nn.Module):
    """Frozen :class:`FaceMapNet` (BN always in eval mode, no gradients) + :class:`TemporalHead`.

    ``forward(clip [B, T, 3, S, S])`` -> the head's outputs plus ``single_depth`` ``[B, T, 1, s, s]``.
    """

    def __init__(self, single: FaceMapNet, head: TemporalHead) -> None:
        super().__init__()
        self.single, self.head = single, head
        self.single.requires_grad_(False)
        self.single.eval()

    def train(self, mode: bool = True) -> FASSGTDMultiFrame:
        super().train(mode)
        self.single.eval()  # frozen: running statistics are used and never updated
        return self

    @torch.no_grad()
    def extract(self, clip: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Single-frame depth ``[B, T, 1, s, s]`` and the three feature levels ``[B, T, C, ...]``."""
        b, t = clip.shape[:2]
        depth, feats = self.single(clip.flatten(0, 1), return_features=True)  # all frames as one batch
        return depth.unflatten(0, (b, t)), [f.unflatten(0, (b, t)) for f in feats]

    def forward(self, clip: torch.Tensor) -> dict[str, torch.Tensor]:
        depth, feats = self.extract(clip)
        out = self.head(depth, feats)
        out["single_depth"] = depth
        return out


def multi_frame_score(fused: torch.Tensor, p_live: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``sigmoid(1.2 d + 0.8 p_live - 1)``, ``d`` the masked mean of the mean fused map; NaN/inf -> 0.

    The released test code's ``softmax([0.2 d + 0.8 p_live, 1 - d])[0]`` (docs/methods/fas_sgtd.md).
    """
    d = depth_score(fused.mean(dim=1), mask)
    return finite_or_zero(torch.sigmoid(1.2 * d + 0.8 * p_live - 1.0))


def build_multi_frame(model_cfg, image_size: int) -> FASSGTDMultiFrame:
    """The network from a config's ``model`` section (weights not loaded; optional ``literal``: reference form)."""
    width, literal = float(model_cfg["width"]), bool(model_cfg.get("literal", False))
    single = FaceMapNet(paper_order=bool(model_cfg["paper_order"]), bn_eps=float(model_cfg["bn_eps"]), width=width,
                        literal=literal)
    head = TemporalHead(single.feature_channels, image_size // 8, width, float(model_cfg["beta"]),
                        bool(model_cfg["gru_recurrent"]), bool(model_cfg["legacy_double_softmax"]),
                        float(model_cfg["bn_momentum"]), float(model_cfg["bn_eps"]), literal)
    return FASSGTDMultiFrame(single, head)
