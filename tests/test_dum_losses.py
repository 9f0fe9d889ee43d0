"""DUM losses against the formulas written out element by element (docs/methods/dum.md, "DUM on CDCN")."""

from __future__ import annotations

import math

import pytest
import torch

from dum.losses import LossWeights, group_terms, kl_divergence, mixed_batch_loss

NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]


def kl_by_loops(mu, logvar, label) -> float:
    total = 0.0
    for b in range(mu.shape[0]):
        s = 0.0
        for i in range(mu.shape[1]):
            for j in range(mu.shape[2]):
                m, lv, y = float(mu[b, i, j]), float(logvar[b, i, j]), float(label[b, i, j])
                s += -(1 + lv - (m - y) ** 2 - math.exp(lv)) / 2
        total += s
    return total / mu.shape[0]


def contrast_by_loops(pred, label) -> float:
    """MSE of the 8 neighbour-minus-centre differences over the unpadded interior."""
    b, h, w = pred.shape
    s, n = 0.0, 0
    for k in range(b):
        for di, dj in NEIGHBOURS:
            for i in range(1, h - 1):
                for j in range(1, w - 1):
                    dp = float(pred[k, i + di, j + dj] - pred[k, i, j])
                    dl = float(label[k, i + di, j + dj] - label[k, i, j])
                    s += (dp - dl) ** 2
                    n += 1
    return s / n


def mse_by_loops(pred, label) -> float:
    return float(((pred - label) ** 2).sum()) / pred.numel()


@pytest.fixture()
def batch():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 5, 5, generator=g, dtype=torch.float64)
    logvar = torch.randn(4, 5, 5, generator=g, dtype=torch.float64) * 0.5
    label = torch.rand(4, 5, 5, generator=g, dtype=torch.float64)
    pred = mu + torch.randn(4, 5, 5, generator=g, dtype=torch.float64) * 0.1
    return pred, mu, logvar, label


def test_kl_matches_the_formula(batch):
    _, mu, logvar, label = batch
    assert kl_divergence(mu, logvar, label).item() == pytest.approx(kl_by_loops(mu, logvar, label), rel=1e-12)
    # KL is zero when mu = label and logvar = 0 (unit variance around the label).
    assert kl_divergence(label, torch.zeros_like(label), label).item() == 0.0


def test_group_terms_match_the_formulas(batch):
    pred, mu, logvar, label = batch
    t = group_terms(pred, label, mu, logvar)
    assert t["mse"].item() == pytest.approx(mse_by_loops(pred, label), rel=1e-12)
    assert t["contrast"].item() == pytest.approx(contrast_by_loops(pred, label), rel=1e-12)
    assert t["kl"].item() == pytest.approx(kl_by_loops(mu, logvar, label), rel=1e-12)


def test_mixed_batch_weighting(batch):
    pred, mu, logvar, label = batch
    gen = torch.tensor([False, False, False, True])
    w = LossWeights(kl=0.001, generated=0.1)
    loss, logs = mixed_batch_loss(pred, label, gen, mu, logvar, w)

    def part(idx):
        p, m, lv, y = pred[idx], mu[idx], logvar[idx], label[idx]
        return mse_by_loops(p, y) + contrast_by_loops(p, y) + 0.001 * kl_by_loops(m, lv, y)

    expected = part([0, 1, 2]) + 0.1 * part([3])
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    assert logs["gen_frac"] == 0.25
    assert logs["gen_kl"] == pytest.approx(kl_by_loops(mu[3:], logvar[3:], label[3:]), rel=1e-10)


def test_real_only_batch_and_plain_cdcn(batch):
    pred, _, _, label = batch
    none = torch.zeros(4, dtype=torch.bool)
    loss, logs = mixed_batch_loss(pred, label, none)  # CDCN / CDCN++: no KL
    assert loss.item() == pytest.approx(mse_by_loops(pred, label) + contrast_by_loops(pred, label), rel=1e-10)
    assert "gen_mse" not in logs and "real_kl" not in logs
