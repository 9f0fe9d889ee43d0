"""CDCN / DUM training losses (docs/methods/dum.md, "Contrast depth loss" and "DUM on CDCN").

For one group of samples (the real part or the generated part of a batch):

    L = MSE(pred, label) + contrast(pred, label) [+ kl_weight * KL]

with ``pred`` the DUM sample ``mu + eps * exp(logvar / 2)`` (CDCN_u) or the depth map (CDCN,
CDCN++), the contrast loss unpadded (30x30 for 32x32 maps) and, for CDCN_u,

    KL = mean over the batch of sum over the map of -(1 + logvar - (mu - label)^2 - exp(logvar)) / 2.

A mixed batch adds ``L_real + generated_weight * L_generated`` (0.1 in the paper): every term of
the generated part, KL included, is scaled, as the original does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fas_core.losses import contrast_depth_loss


@dataclass(frozen=True)
class LossWeights:
    kl: float = 0.001
    generated: float = 0.1
    contrast: float = 1.0


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """DUM's KL term: per sample the sum over the map, then the batch mean (``[B, H, W]`` inputs)."""
    per_pixel = -(1.0 + logvar - (mu - label).pow(2) - logvar.exp()) / 2.0
    return per_pixel.flatten(1).sum(dim=1).mean()


def group_terms(pred: torch.Tensor, label: torch.Tensor, mu: torch.Tensor | None = None,
                logvar: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The unweighted ``mse``, ``contrast`` (and ``kl`` when ``mu``/``logvar`` are given) of one group."""
    terms = {"mse": F.mse_loss(pred, label), "contrast": contrast_depth_loss(pred, label, padding=0)}
    if mu is not None and logvar is not None:
        terms["kl"] = kl_divergence(mu, logvar, label)
    return terms


def mixed_batch_loss(pred: torch.Tensor, label: torch.Tensor, generated: torch.Tensor,
                     mu: torch.Tensor | None = None, logvar: torch.Tensor | None = None,
                     weights: LossWeights = LossWeights()) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss of a batch whose samples are real (``generated`` false) or DSDG-generated.

    Returns the loss and the logged terms (``real_mse``, ``gen_kl``, ...; only groups present).
    """
    total = pred.new_zeros(())
    logs: dict[str, float] = {}
    for name, mask, scale in (("real", ~generated, 1.0), ("gen", generated, weights.generated)):
        if not bool(mask.any()):
            continue
        terms = group_terms(pred[mask], label[mask], None if mu is None else mu[mask],
                            None if logvar is None else logvar[mask])
        part = terms["mse"] + weights.contrast * terms["contrast"]
        if "kl" in terms:
            part = part + weights.kl * terms["kl"]
        total = total + scale * part
        logs.update({f"{name}_{k}": float(v.detach()) for k, v in terms.items()})
    logs["gen_frac"] = float(generated.float().mean())
    return total, logs
