"""DSDG losses against their formulas on small hand-computed tensors (docs/methods/dsdg.md, Losses)."""

from __future__ import annotations

import math

import pytest
import torch

from dsdg import losses as L


def test_reconstruction_sum_per_sample_mean_half() -> None:
    rec = torch.tensor([[[[0.5, 0.0]]], [[[1.0, 1.0]]]])  # 2 samples of 2 values
    target = torch.zeros_like(rec)
    # sample sums 0.25 and 2.0 -> mean 1.125 -> / 2
    assert L.reconstruction_loss(rec, target).item() == pytest.approx(0.5625)


def test_kl_standard_vae() -> None:
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    # -0.5 * [(1 + 0 - 1 - 1) + (1 + ln2 - 0 - 2)] = 0.5 + 0.5 * (1 - ln2)
    want = 0.5 + 0.5 * (1 - math.log(2.0))
    assert L.kl_divergence(mu, logvar).item() == pytest.approx(want)
    # batch mean, and the three latents averaged
    zero = torch.zeros(1, 2)
    assert L.kl_divergence(torch.cat([mu, zero]), torch.cat([logvar, zero])).item() == pytest.approx(want / 2)
    assert L.kl_loss([(mu, logvar), (zero, zero), (zero, zero)]).item() == pytest.approx(want / 3)


def test_latent_mean_distance() -> None:
    z_s = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # batch mean [2, 3]
    z_l = torch.tensor([[0.0, 0.0], [2.0, 2.0]])  # batch mean [1, 1]
    assert L.mean_distance_loss(z_s, z_l).item() == pytest.approx(1.5)


def test_type_cross_entropy() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, math.log(3.0), 0.0, 0.0]])
    labels = torch.tensor([2, 1])
    # ln 4 and -ln(3/6) = ln 2, averaged
    assert L.type_loss(logits, labels).item() == pytest.approx((math.log(4) + math.log(2)) / 2)


def test_orthogonality_absolute_mean_dot() -> None:
    z_t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z_s = torch.tensor([[2.0, 3.0], [4.0, 5.0]])
    assert L.orthogonality_loss(z_t, z_s).item() == pytest.approx(3.5)  # dots 2, 5
    assert L.orthogonality_loss(z_t, -z_s).item() == pytest.approx(3.5)


def test_identity_and_pair() -> None:
    f_rec_spoof = torch.tensor([[1.0, 0.0]], requires_grad=True)
    f_spoof = torch.tensor([[0.0, 1.0]], requires_grad=True)
    f_rec_live = torch.tensor([[0.6, 0.8]], requires_grad=True)
    f_live = torch.tensor([[0.6, 0.8]])
    # [MSE((1,0),(0,1)) + 0] / 2 = [(1 + 1) / 2] / 2
    loss = L.identity_loss(f_rec_spoof, f_spoof, f_rec_live, f_live)
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert f_spoof.grad is None  # targets are detached
    assert f_rec_spoof.grad is not None
    # MSE((1,0),(0.6,0.8)) = (0.16 + 0.64) / 2
    assert L.pair_loss(f_rec_spoof, f_rec_live).item() == pytest.approx(0.4)


def test_total_weights_and_warmup() -> None:
    t = L.LossTerms(rec=torch.tensor(100.0), kl=torch.tensor(2.0), mmd=torch.tensor(0.1), type=torch.tensor(1.0),
                    ort=torch.tensor(3.0), ip=torch.tensor(0.001), pair=torch.tensor(0.01))
    weighted = 1 * 2.0 + 50 * 0.1 + 10 * 1.0 + 1 * 3.0 + 1000 * 0.001 + 5 * 0.01  # 21.05
    assert L.total_loss(t).item() == pytest.approx(100.0 + weighted)
    assert L.total_loss(t, warmup=True).item() == pytest.approx(100.0 + 0.01 * weighted)
    no_ip = L.LossTerms(rec=t.rec, kl=t.kl, mmd=t.mmd, type=t.type, ort=t.ort)
    assert [n for n, _ in no_ip.items()] == ["rec", "kl", "mmd", "type", "ort"]
    assert L.total_loss(no_ip).item() == pytest.approx(100.0 + weighted - 1.0 - 0.05)
    assert L.DEFAULT_WEIGHTS == {"kl": 1.0, "mmd": 50.0, "type": 10.0, "ort": 1.0, "ip": 1000.0, "pair": 5.0}
