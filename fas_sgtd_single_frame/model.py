"""FAS-SGTD single-frame network: Residual Spatial Gradient Blocks and FaceMapNet (docs/methods/fas_sgtd.md).

Wang et al., "Deep Spatial Gradient and Temporal Depth Learning for Face Anti-spoofing", CVPR 2020,
Sec. 3.1 ("Residual Spatial Gradient Block"). The layer names (``rgc_init``, ``rgc1_1`` ...
``conv4_3``) are the variable scopes of the released TensorFlow graph, so that a converted
checkpoint maps one to one (see ``convert_tf.py``).

TensorFlow-1 details kept on purpose (all from the released code, docs/methods/fas_sgtd.md):

* slim BatchNorm: decay 0.999 (PyTorch momentum 0.001), epsilon 1e-3, ``center=True`` (beta),
  ``scale=False`` (no gamma) -> :class:`SlimBatchNorm2d` has a bias and no weight;
* Glorot-uniform conv kernels, zero biases; L2 regularisation ``5e-4 * sum(w^2) / 2`` on conv
  kernels, added to the loss (slim ``l2_regularizer``), see :func:`l2_penalty`;
* ``tf.image.resize_bilinear`` (legacy: ``align_corners=False``, no half-pixel centres) reads
  source pixel ``dst * in / out``; at integer factors that is strided subsampling,
  :func:`tf_legacy_resize`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from fas_core.fuse import bn_affine, scaled_conv
from fas_core.layers import add_pointwise_conv_, gradient_magnitude, preferred_layout

# Channel widths of one stage (64, 96, 64 times the original's ``multipler`` 2).
STAGE_WIDTHS = (128, 192, 128)
TF_BN_MOMENTUM = 0.001  # TF slim decay 0.999
TF_BN_EPS = 1e-3
L2_WEIGHT = 5e-4


class SlimBatchNorm2d(nn.Module):
    """TF-slim ``batch_norm`` defaults: normalise, add a learnt offset (beta), no scale (gamma).

    Training mode uses batch statistics and updates the running ones with ``momentum``
    (``running = (1 - momentum) * running + momentum * batch``, i.e. TF's ``decay = 1 - momentum``);
    eval mode uses the running statistics.
    """

    def __init__(self, num_features: int, momentum: float = TF_BN_MOMENTUM, eps: float = TF_BN_EPS) -> None:
        super().__init__()
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.num_batches_tracked += 1
        # A unit scale, not a parameter (no state dict key): CUDA's batch-norm backward fails on a
        # missing weight ("tensor does not have a device", torch 2.11); the CPU kernels accept None.
        scale = None if x.device.type == "cpu" else torch.ones_like(self.bias)
        return F.batch_norm(x, self.running_mean, self.running_var, scale, self.bias, self.training,
                            self.momentum, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}, gamma=False"


def tf_legacy_resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """TF1 ``resize_bilinear(align_corners=False)`` of ``[B, C, H, W]`` to ``size x size``.

    The legacy op samples source coordinate ``dst * in / out``: at an integer factor every
    sample lands exactly on a pixel, so the result is ``x[..., ::f, ::f]`` (FaceMapNet and the
    STPM cascade only use factors 2 and 4). Other sizes interpolate with the same formula.
    """
    h, w = x.shape[-2:]
    if h % size == 0 and w % size == 0:
        return x[..., :: h // size, :: w // size]
    return _legacy_bilinear(x, size, size)


def _legacy_bilinear(x: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    h, w = x.shape[-2:]

    def axis(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = torch.arange(n_out, dtype=torch.float64, device=x.device) * (n_in / n_out)
        lo = src.floor().long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        return lo, hi, (src - lo).to(x.dtype)

    y0, y1, fy = axis(h, out_h)
    x0, x1, fx = axis(w, out_w)
    top = x[..., y0, :] * (1 - fy)[:, None] + x[..., y1, :] * fy[:, None]
    return top[..., x0] * (1 - fx) + top[..., x1] * fx


class RSGB(nn.Module):
    """Residual Spatial Gradient Block (paper Sec. 3.1; docs/methods/fas_sgtd.md "RSGB").

    ``out = ReLU(BN(conv3x3(x) + BN(conv1x1(|grad x|))))`` with ``|grad x| =
    sqrt(Sobel_x(x)^2 + Sobel_y(x)^2 + 1e-8)`` per channel. This is the released code's order
    (``residual_gradient_conv``, ``gradient_type='type1'``), which made the released model.
    ``paper_order=True`` applies the 1x1 conv before the Sobel, as the paper's equation writes
    it (same parameters, different function).

    Sub-module names follow the TF scopes: ``conv`` (``<name>/conv``), ``grad_conv``
    (``<name>/rgc_pw_gabor``), ``grad_bn`` (``<name>/gabor_bn``), ``bn`` (``<name>/gn``).

    The default forward computes the same numbers faster: shifted-slice Sobel with a hand-written
    backward, in-place sums and ReLU, and in eval mode both BatchNorms folded into the
    convolution weights on the fly (the parameters and state dict keys stay as they are).
    ``literal=True`` runs the formulation written above op by op (the tests' and benchmarks'
    reference).
    """

    def __init__(self, in_channels: int, out_channels: int, paper_order: bool = False,
                 bn_momentum: float = TF_BN_MOMENTUM, bn_eps: float = TF_BN_EPS, literal: bool = False) -> None:
        super().__init__()
        self.paper_order, self.literal = paper_order, literal
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.grad_conv = nn.Conv2d(in_channels, out_channels, 1)
        self.grad_bn = SlimBatchNorm2d(out_channels, bn_momentum, bn_eps)
        self.bn = SlimBatchNorm2d(out_channels, bn_momentum, bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.literal:
            return self.forward_literal(x)
        if self.training or isinstance(self.bn, nn.Identity):
            return self._forward_with_bn(x)
        return self._forward_folded(x)

    def forward_literal(self, x: torch.Tensor) -> torch.Tensor:
        if self.paper_order:
            grad = gradient_magnitude(self.grad_conv(x), literal=True)
        else:
            grad = self.grad_conv(gradient_magnitude(x, literal=True))
        return F.relu(self.bn(self.conv(x) + self.grad_bn(grad)))

    def _forward_with_bn(self, x: torch.Tensor) -> torch.Tensor:
        """Training (batch statistics) or already fused by :meth:`fuse_bn_`: in-place sum and ReLU.

        Neither a convolution's nor a BatchNorm's backward reads its own output, so both may be
        overwritten.
        """
        if self.paper_order:
            grad = gradient_magnitude(self.grad_conv(x))
        else:
            grad = self.grad_conv(gradient_magnitude(x))
        out = self.conv(x).add_(self.grad_bn(grad))
        return F.relu(self.bn(out), inplace=True)

    def _forward_folded(self, x: torch.Tensor) -> torch.Tensor:
        """Eval mode: ``ReLU(conv'(x) + grad_conv'(g))`` with both BatchNorms folded (see :meth:`fuse_bn_`).

        Every bias goes to the 3x3 convolution; the 1x1 branch is accumulated into its output.
        """
        s, t = bn_affine(self.bn)
        sg, tg = bn_affine(self.grad_bn)
        conv, grad_conv, branch_scale = self.conv, self.grad_conv, s * sg
        bias = conv.bias * s + s * tg + t
        if self.paper_order:  # the 1x1 conv feeds the magnitude, a non-linearity: scale after it
            out = F.conv2d(x, conv.weight * s[:, None, None, None], bias, padding=conv.padding)
            return out.addcmul_(gradient_magnitude(grad_conv(x)), branch_scale[:, None, None]).relu_()
        bias = bias + grad_conv.bias * branch_scale
        out = F.conv2d(x, conv.weight * s[:, None, None, None], bias, padding=conv.padding)
        add_pointwise_conv_(out, gradient_magnitude(x), grad_conv.weight * branch_scale[:, None, None, None])
        return out.relu_()

    @torch.no_grad()
    def fuse_bn_(self) -> bool:
        """Fold both BatchNorms into the convolutions (in place, eval statistics); False if it cannot.

        BatchNorm in eval mode is per-channel affine (``s * z + t``), so with ``bn = (s, t)`` and
        ``grad_bn = (s_g, t_g)`` the block equals ``ReLU(conv'(x) + grad_conv'(g))`` with
        ``conv' = s * conv`` plus bias ``t + s * t_g`` and ``grad_conv' = s * s_g * grad_conv``;
        both BatchNorms become identities. In the paper's order the 1x1 conv feeds the Sobel
        magnitude, a non-linearity, and the block is left as it is.
        """
        if self.paper_order or isinstance(self.bn, nn.Identity):
            return False
        s, t = bn_affine(self.bn)
        sg, tg = bn_affine(self.grad_bn)
        self.conv = scaled_conv(self.conv, s, t + s * tg)
        self.grad_conv = scaled_conv(self.grad_conv, s * sg, torch.zeros_like(s))
        self.bn, self.grad_bn = nn.Identity(), nn.Identity()
        return True


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1 (``width`` 1.0 is the paper's network)."""
    return max(1, int(round(channels * width)))


def glorot_init(module: nn.Module) -> None:
    """Glorot-uniform kernels and zero biases for every conv / linear layer (TF's xavier_initializer)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def l2_penalty(weights: Iterable[torch.Tensor], weight: float = L2_WEIGHT) -> torch.Tensor:
    """slim ``l2_regularizer``: ``weight * sum(w^2) / 2`` over the given kernels (coupled to the loss)."""
    total = None
    for w in weights:
        term = w.pow(2).sum()
        total = term if total is None else total + term
    if total is None:
        return torch.zeros(())
    return weight * total / 2


class FaceMapNet(nn.Module):
    """The single-frame depth network (docs/methods/fas_sgtd.md "Single-frame network").

    Input ``[B, 3, S, S]`` RGB normalised to ``(x - 127.5) / 255`` (S = 256 in the paper; any
    multiple of 8 works) -> depth ``[B, 1, S/8, S/8]`` (ReLU output, label scale 0..1).
    ``forward(x, return_features=True)`` also returns the ``rgc1_3``, ``rgc2_3``, ``rgc3_3``
    features (S, S/2, S/4; 128 channels) that the multi-frame STPM reads.
    2,466,497 trainable parameters: the count of the trainable variables the released graph's code defines.
    ``width`` scales every channel count (1.0 = the paper; smaller only for quick CPU runs).

    Without gradients on the CPU the default runs channels-last (NHWC), where oneDNN's forward
    convolutions are fastest (see :func:`fas_core.layers.preferred_layout`); the returned features
    then are channels-last too.
    ``literal=True`` (or :func:`fas_core.layers.set_literal`) runs the reference formulation
    in the input's layout: every block op by op (see :class:`RSGB`).
    """

    def __init__(self, paper_order: bool = False, bn_momentum: float = TF_BN_MOMENTUM,
                 bn_eps: float = TF_BN_EPS, width: float = 1.0, literal: bool = False) -> None:
        super().__init__()
        self.literal = literal

        def block(cin: int, cout: int) -> RSGB:
            return RSGB(cin, cout, paper_order, bn_momentum, bn_eps, literal)

        w1, w2, w3 = (scaled(w, width) for w in STAGE_WIDTHS)
        c0, c4, c5 = scaled(64, width), scaled(128, width), scaled(64, width)
        self.feature_channels = w3
        self.rgc_init = block(3, c0)
        self.rgc1_1, self.rgc1_2, self.rgc1_3 = block(c0, w1), block(w1, w2), block(w2, w3)
        self.rgc2_1, self.rgc2_2, self.rgc2_3 = block(w3, w1), block(w1, w2), block(w2, w3)
        self.rgc3_1, self.rgc3_2, self.rgc3_3 = block(w3, w1), block(w1, w2), block(w2, w3)
        self.rgc4_1 = block(3 * w3, c4)
        self.rgc4_2 = block(c4, c5)
        self.conv4_3 = nn.Conv2d(c5, 1, 3, padding=1)
        glorot_init(self)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"FaceMapNet input size must be a multiple of 8, got {tuple(x.shape[-2:])}")
        if not self.literal:
            x = preferred_layout(x, self)
        f1 = self.rgc1_3(self.rgc1_2(self.rgc1_1(self.rgc_init(x))))
        pool1 = F.max_pool2d(f1, 2)
        f2 = self.rgc2_3(self.rgc2_2(self.rgc2_1(pool1)))
        pool2 = F.max_pool2d(f2, 2)
        f3 = self.rgc3_3(self.rgc3_2(self.rgc3_1(pool2)))
        pool3 = F.max_pool2d(f3, 2)
        size = pool3.shape[-1]
        net = torch.cat([tf_legacy_resize(pool1, size), tf_legacy_resize(pool2, size), pool3], dim=1)
        depth = F.relu(self.conv4_3(self.rgc4_2(self.rgc4_1(net))))
        if return_features:
            return depth, [f1, f2, f3]
        return depth

    def regularised_weights(self) -> list[torch.Tensor]:
        """The conv kernels slim's ``weights_regularizer`` covers (not biases, not BN offsets)."""
        return [m.weight for m in self.modules() if isinstance(m, nn.Conv2d)]

    def l2_penalty(self, weight: float = L2_WEIGHT) -> torch.Tensor:
        return l2_penalty(self.regularised_weights(), weight)


def build_facemapnet(model_cfg) -> FaceMapNet:
    """FaceMapNet from a config's ``model`` section (``paper_order``, ``bn_momentum``, ``bn_eps``, ``width``,
    optional ``literal``)."""
    return FaceMapNet(paper_order=bool(model_cfg["paper_order"]), bn_momentum=float(model_cfg["bn_momentum"]),
                      bn_eps=float(model_cfg["bn_eps"]), width=float(model_cfg.get("width", 1.0)),
                      literal=bool(model_cfg.get("literal", False)))


def depth_score(depth: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Masked mean depth per sample: ``sum(D * mask) / sum(mask)`` (docs/methods/fas_sgtd.md "Score").

    ``depth``: ``[B, 1, h, w]`` or ``[B, h, w]``; ``mask`` the same shape (1 on the face), or
    ``None`` for the whole map. An empty mask gives NaN (the caller decides what that scores).
    """
    depth = depth.reshape(depth.shape[0], -1)
    if mask is None:
        return depth.mean(dim=1)
    mask = mask.reshape(mask.shape[0], -1).to(depth.dtype)
    return (depth * mask).sum(dim=1) / mask.sum(dim=1)


def finite_or_zero(x: torch.Tensor) -> torch.Tensor:
    """Replace NaN/inf scores (empty face mask) by 0: such a sample counts as an attack."""
    return torch.where(torch.isfinite(x), x, torch.zeros_like(x))


def single_frame_score(depth: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``sigmoid(2d - 1)``: the original's ``softmax([d, 1 - d])[0]`` (docs/methods/fas_sgtd.md "Score")."""
    return finite_or_zero(torch.sigmoid(2.0 * depth_score(depth, mask) - 1.0))


def box_mask(size: int, crop_scale: float = 1.3, device: torch.device | None = None) -> torch.Tensor:
    """``[size, size]`` mask of the face box inside a crop made at ``crop_scale`` (centred square of side size/scale).

    Used where no depth label exists to mask the face (deployment, ``test.score_mask: box``).
    """
    side = size / crop_scale
    lo = int(math.floor((size - side) / 2))
    hi = int(math.ceil((size + side) / 2))
    m = torch.zeros(size, size, device=device)
    m[lo:hi, lo:hi] = 1.0
    return m
