"""DSDG training losses and their weights (docs/methods/dsdg.md, Losses).

Every function returns the *unweighted* term; :func:`total_loss` applies the weights and the
first-epoch warm-up (every term but reconstruction times ``warmup_factor``).

* reconstruction: per-sample sum of squared errors over all ``6 x 256 x 256`` values, batch mean, / 2;
* KL: standard VAE KL to N(0, I), summed over latent dims, batch mean; the three latents averaged;
* latent mean distance (weight 50; the original calls it "MMD", but it is not a kernel MMD): the
  L1 distance between the batch means of ``z_spoof_id`` and ``z_live_id``, averaged over dims;
* type classification (weight 10): cross-entropy of the classifier on ``z_type``;
* orthogonality (weight 1): ``| mean_batch(sum_dims z_type * z_spoof_id) |``;
* identity preservation (weight 1000): ``[MSE(f(rec_spoof), f(spoof)) + MSE(f(rec_live), f(live))] / 2``
  with ``f`` the L2-normalised LightCNN feature and targets detached;
* pair identity (weight 5): ``MSE(f(rec_spoof), f(rec_live))``.

The latent mean distance and the orthogonality term are statistics of the whole batch, which the
original computes over the 240 samples that DataParallel gathers. Under DDP each process holds
only its share, so :func:`batch_statistic_terms` gathers the latents of every process first
(with gradients): N processes of batch B / N then train on the loss of one process of batch B.
The other terms are per-sample means, which DDP's gradient averaging already makes global.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.nn.functional as F

DEFAULT_WEIGHTS: dict[str, float] = {"kl": 1.0, "mmd": 50.0, "type": 10.0, "ort": 1.0, "ip": 1000.0, "pair": 5.0}


def reconstruction_loss(rec: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum of squared errors per sample, mean over the batch, halved."""
    return (rec - target).pow(2).flatten(1).sum(dim=1).mean() / 2.0


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over dims, batch mean."""
    return (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()


def kl_loss(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Mean of the KL of each ``(mu, logvar)`` latent (three in DSDG)."""
    return torch.stack([kl_divergence(mu, lv) for mu, lv in pairs]).mean()


def mean_distance_loss(z_spoof: torch.Tensor, z_live: torch.Tensor) -> torch.Tensor:
    """L1 distance between the batch means of two latents, averaged over dims (the original's "MMD")."""
    return (z_spoof.mean(dim=0) - z_live.mean(dim=0)).abs().mean()


def type_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the spoof-type classifier."""
    return F.cross_entropy(logits, labels)


def orthogonality_loss(z_type: torch.Tensor, z_spoof: torch.Tensor) -> torch.Tensor:
    """``| mean over the batch of <z_type, z_spoof_id> |``."""
    return (z_type * z_spoof).sum(dim=1).mean().abs()


def gather_batch(x: torch.Tensor) -> torch.Tensor:
    """``x`` of every DDP process, concatenated along the batch in rank order; ``x`` itself without DDP.

    The gather is differentiable: each process's part receives the summed gradients of every
    process's loss, so after DDP averages the parameter gradients over the N processes, a loss
    computed on the gathered batch trains exactly as it would in one process.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return torch.cat(dist_fn.all_gather(x), dim=0)


def batch_statistic_terms(z_spoof: torch.Tensor, z_live: torch.Tensor, z_type: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean distance, orthogonality)`` over the batch of all processes (see the module docstring)."""
    z_spoof, z_live, z_type = gather_batch(z_spoof), gather_batch(z_live), gather_batch(z_type)
    return mean_distance_loss(z_spoof, z_live), orthogonality_loss(z_type, z_spoof)


def identity_loss(f_rec_spoof: torch.Tensor, f_spoof: torch.Tensor, f_rec_live: torch.Tensor,
                  f_live: torch.Tensor) -> torch.Tensor:
    """Identity preservation on normalised features; real-image features are the (detached) targets."""
    return (F.mse_loss(f_rec_spoof, f_spoof.detach()) + F.mse_loss(f_rec_live, f_live.detach())) / 2.0


def pair_loss(f_rec_spoof: torch.Tensor, f_rec_live: torch.Tensor) -> torch.Tensor:
    """The two reconstructions of a pair should show the same identity."""
    return F.mse_loss(f_rec_spoof, f_rec_live)


@dataclass
class LossTerms:
    """Unweighted terms of one step; ``ip`` and ``pair`` are None when the identity net is off."""

    rec: torch.Tensor
    kl: torch.Tensor
    mmd: torch.Tensor
    type: torch.Tensor
    ort: torch.Tensor
    ip: torch.Tensor | None = None
    pair: torch.Tensor | None = None

    def items(self) -> list[tuple[str, torch.Tensor]]:
        names = ("rec", "kl", "mmd", "type", "ort", "ip", "pair")
        return [(n, getattr(self, n)) for n in names if getattr(self, n) is not None]


def total_loss(terms: LossTerms, weights: Mapping[str, float] = DEFAULT_WEIGHTS,
               warmup: bool = False, warmup_factor: float = 0.01) -> torch.Tensor:
    """``rec + factor * sum_k w_k * term_k`` with ``factor = warmup_factor`` during warm-up, else 1."""
    factor = warmup_factor if warmup else 1.0
    out = terms.rec
    for name, value in terms.items():
        if name != "rec":
            out = out + factor * float(weights[name]) * value
    return out
