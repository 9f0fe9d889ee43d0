"""Bootstrap confidence intervals checked against answers known in closed form or worked out independently."""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter

import numpy as np
import pytest

from fas_core import bootstrap as B
from fas_core import metrics as M


def _split(live, attacks):
    """(scores, labels, species) arrays from live scores and {species: attack scores}."""
    species = ["live"] * len(live) + [name for name, vals in attacks.items() for _ in vals]
    scores = [*live, *(v for vals in attacks.values() for v in vals)]
    return np.array(scores, dtype=float), np.array([int(s == "live") for s in species]), np.array(species)


# Dev: live 0.8, 0.9 above every attack. On any dev resample the EER threshold is the lowest
# resampled live score (FAR = FRR = 0 there, and the rule takes the distinct scores): 0.8, or 0.9
# when both live draws are the 0.9 video (probability 1/4).
DEV = _split([0.8, 0.9], {"print": [0.1, 0.2], "replay": [0.15, 0.05]})


def test_all_videos_separated_gives_zero_width_intervals():
    test = _split([0.95, 0.99, 0.92], {"print": [0.1, 0.3], "replay": [0.2, 0.4, 0.0]})
    ci = B.confidence_intervals(DEV, test, B.BootstrapSettings(resamples=300))
    for key in ("ACER", "APCER", "APCER_pooled", "BPCER", "HTER", "EER_test", "EER_dev"):
        assert ci[f"{key}_ci"] == [0.0, 0.0], key
    assert ci["AUC_ci"] == [1.0, 1.0]
    assert ci["APCER_per_species_ci"] == {"print": [0.0, 0.0], "replay": [0.0, 0.0]}


def _binomial_quantile(n: int, p: float, q: float) -> int:
    """Smallest k with P(K <= k) >= q for K ~ Binomial(n, p), from the closed-form pmf."""
    cdf = 0.0
    for k in range(n + 1):
        cdf += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if cdf >= q:
            return k
    return n


def test_one_rejected_live_video_follows_the_binomial_distribution():
    # Test: the live video at 0.5 is rejected at either dev-resample threshold (0.8 or 0.9), the
    # other three are accepted, every attack is rejected. So in a resample BPCER = K/4 where K,
    # the number of draws of that one video among 4, is Binomial(4, 1/4).
    test = _split([0.95, 0.97, 0.99, 0.5], {"print": [0.1, 0.2], "replay": [0.3, 0.25]})
    settings = B.BootstrapSettings(resamples=4000, seed=7)
    values = B.bootstrap_values(DEV, test, settings)
    k = np.rint(values["BPCER"] * 4).astype(int)
    np.testing.assert_allclose(values["BPCER"], k / 4)
    freq = np.bincount(k, minlength=5) / k.size
    pmf = [math.comb(4, j) * 0.25**j * 0.75 ** (4 - j) for j in range(5)]  # .316 .422 .211 .047 .004
    np.testing.assert_allclose(freq, pmf, atol=0.03)
    np.testing.assert_array_equal(values["APCER"], 0.0)
    assert set(values["threshold"].tolist()) == {0.8, 0.9}
    assert np.mean(values["threshold"] == 0.9) == pytest.approx(0.25, abs=0.03)
    # 95% percentile interval of K/4: the 2.5% and 97.5% binomial quantiles are 0 and 3
    lo, hi = _binomial_quantile(4, 0.25, 0.025), _binomial_quantile(4, 0.25, 0.975)
    assert (lo, hi) == (0, 3)
    ci = B.confidence_intervals(DEV, test, settings)
    assert ci["BPCER_ci"] == [lo / 4, hi / 4]
    assert ci["ACER_ci"] == [lo / 8, hi / 8] and ci["HTER_ci"] == [lo / 8, hi / 8]
    assert ci["APCER_ci"] == [0.0, 0.0]


def test_auc_distribution_matches_exact_enumeration():
    # 2 live, 2 attack videos: 4 x 4 equally likely ordered resamples; AUC counted pair by pair.
    live, attack = [0.9, 0.4], [0.5, 0.1]
    test = _split(live, {"attack": attack})
    exact = Counter()
    for lv in itertools.product(live, repeat=2):
        for at in itertools.product(attack, repeat=2):
            wins = sum((a < b) + 0.5 * (a == b) for b in lv for a in at)
            exact[wins / 4] += 1 / 16
    # by hand: j draws of live 0.4 and i of attack 0.5 (each Binomial(2, 1/2)) give
    # AUC = (2 (2 - j) + j (2 - i)) / 4: 1 for j = 0 or i = 0, 3/4 for j = i = 1, 1/2 for (1, 2) and
    # (2, 1), 0 for j = i = 2
    assert exact == pytest.approx({1.0: 7 / 16, 0.75: 4 / 16, 0.5: 4 / 16, 0.0: 1 / 16})
    values = B.bootstrap_values(DEV, test, B.BootstrapSettings(resamples=4000, seed=1))
    seen = Counter(values["AUC"].tolist())
    assert set(seen) == set(exact)
    for auc, p in exact.items():
        assert seen[auc] / 4000 == pytest.approx(p, abs=0.03)


@pytest.mark.parametrize("mode", B.THRESHOLD_MODES)
def test_vectorised_values_equal_a_loop_over_evaluate_split(mode):
    # Independent reference: every resample rebuilt from its indices and evaluated by the scalar code.
    rng = np.random.default_rng(5)

    def random_split(n):
        y = (rng.random(n) < 0.4).astype(int)
        y[:3] = [1, 0, 0]
        sp = np.where(y == 1, "live", np.where(rng.random(n) < 0.5, "print", "replay"))
        sp[1:3] = ["print", "replay"]
        return np.round(rng.normal(y, 1.0) * 4) / 4, y, sp  # coarse scores: many ties

    dev, test = random_split(23), random_split(31)
    settings = B.BootstrapSettings(resamples=60, seed=11, level=0.9, threshold=mode)
    values = B.bootstrap_values(dev, test, settings)
    dev_idx, test_idx = B.resample_indices(dev, test, settings)
    assert (dev_idx is None) == (mode == "fixed")
    loop = {k: [] for k in (*B.CI_KEYS, "EER_dev", "threshold")}
    for b in range(settings.resamples):
        dev_b = dev if dev_idx is None else tuple(a[dev_idx[b]] for a in dev)
        m = M.evaluate_split(dev_b, tuple(a[test_idx[b]] for a in test))
        for key in loop:
            loop[key].append(m[key])
        for name, rate in m["APCER_per_species"].items():
            assert values["APCER_per_species"][name][b] == pytest.approx(rate, abs=1e-12)
    for key in B.CI_KEYS:
        np.testing.assert_allclose(values[key], loop[key], atol=1e-12, err_msg=key)
    if mode == "fixed":
        assert set(loop["threshold"]) == {M.eer_threshold(dev[0], dev[1])}
    else:
        np.testing.assert_array_equal(values["threshold"], loop["threshold"])
        np.testing.assert_allclose(values["EER_dev"], loop["EER_dev"], atol=1e-12)
    ci = B.confidence_intervals(dev, test, settings)
    for key in B.CI_KEYS:
        lo, hi = np.quantile(loop[key], [0.05, 0.95])
        assert ci[f"{key}_ci"] == pytest.approx([lo, hi], abs=1e-12), key


def test_every_resample_keeps_the_class_and_species_counts():
    # a single replay attack, above both possible thresholds: drawn in every resample, so the worst
    # species' APCER is 1 throughout, whatever happens to the print attacks
    test = _split([0.9, 0.8, 0.7], {"print": [0.1, 0.2, 0.3, 0.85], "replay": [0.95]})
    settings = B.BootstrapSettings(resamples=50)
    dev_idx, test_idx = B.resample_indices(DEV, test, settings)
    for rows, species in ((dev_idx, DEV[2]), (test_idx, test[2])):
        for row in rows:
            assert Counter(species[row].tolist()) == Counter(species.tolist())
    values = B.bootstrap_values(DEV, test, settings)
    np.testing.assert_array_equal(values["APCER_per_species"]["replay"], 1.0)
    np.testing.assert_array_equal(values["APCER"], 1.0)
    # print: the 0.85 attack (position 6) is accepted at the threshold 0.8 only, once per draw of it
    draws = (test_idx == 6).sum(axis=1)
    expected = np.where(values["threshold"] == 0.8, draws / 4, 0.0)
    np.testing.assert_array_equal(values["APCER_per_species"]["print"], expected)
    assert expected.max() > 0  # the case occurs


def test_same_seed_same_intervals_other_seed_other_intervals():
    rng = np.random.default_rng(2)
    y = np.r_[np.ones(15, int), np.zeros(25, int)]
    dev = (rng.normal(y, 1.0), y)
    test = (rng.normal(y, 1.0), y)
    a = B.confidence_intervals(dev, test, B.BootstrapSettings(resamples=500, seed=3))
    b = B.confidence_intervals(dev, test, B.BootstrapSettings(resamples=500, seed=3))
    c = B.confidence_intervals(dev, test, B.BootstrapSettings(resamples=500, seed=4))
    assert a == b
    assert a["ACER_ci"] != c["ACER_ci"] and a["AUC_ci"] != c["AUC_ci"]
    assert a["bootstrap"]["seed"] == 3 and c["bootstrap"]["seed"] == 4


def test_fixed_threshold_mode_resamples_test_only_with_the_same_draws():
    test = _split([0.95, 0.85, 0.5], {"print": [0.1, 0.82], "replay": [0.3]})
    drawn = B.BootstrapSettings(resamples=200, seed=9)
    fixed = B.BootstrapSettings(resamples=200, seed=9, threshold="fixed")
    assert np.array_equal(B.resample_indices(DEV, test, drawn)[1], B.resample_indices(DEV, test, fixed)[1])
    ci = B.confidence_intervals(DEV, test, fixed)
    assert "threshold_ci" not in ci and "EER_dev_ci" not in ci
    assert ci["bootstrap"]["threshold"] == "fixed"
    # dev threshold 0.8: the 0.82 print attack is accepted in a resample iff it is drawn, so
    # APCER[print] = J/2 with J ~ Binomial(2, 1/2): quantiles 0 and 2 -> [0, 1]
    assert ci["APCER_per_species_ci"]["print"] == [0.0, 1.0]
    assert ci["APCER_per_species_ci"]["replay"] == [0.0, 0.0]


def test_settings_are_checked_and_recorded():
    for bad, why in (({"resamples": 0}, "resamples"), ({"resamples": 2.5}, "resamples"), ({"seed": -1}, "seed"),
                     ({"level": 1.0}, "level"), ({"threshold": "test"}, "threshold")):
        with pytest.raises(ValueError, match=why):
            B.BootstrapSettings(**bad)
    with pytest.raises(ValueError, match="unknown bootstrap setting.*'samples'"):
        B.BootstrapSettings.from_mapping({"samples": 10})
    s = B.BootstrapSettings.from_mapping({"resamples": 10, "level": 0.9})
    d = s.describe()
    assert (d["resamples"], d["seed"], d["level"], d["threshold"], d["method"]) == (10, 0, 0.9, "dev_resampled",
                                                                                   "percentile")
    assert d["quantiles"] == pytest.approx([0.05, 0.95])


def test_interval_text():
    assert B.format_interval([0.125, 0.4375]) == "[12.50, 43.75]"
    assert B.format_interval([0.125, 0.4375], digits=1) == "[12.5, 43.8]"
    assert B.format_interval([0.85, 1.0], percent=False, digits=4) == "[0.8500, 1.0000]"
    assert B.format_interval(None) == ""


def test_thousand_resamples_of_thousands_of_videos_is_fast():
    rng = np.random.default_rng(0)

    def big(n):
        y = (rng.random(n) < 0.25).astype(int)
        sp = np.where(y == 1, "live", np.where(rng.random(n) < 0.5, "print", "replay"))
        return np.round(rng.normal(1.5 * y, 1.0), 3), y, sp

    dev, test = big(3000), big(3000)
    start = time.perf_counter()
    ci = B.confidence_intervals(dev, test)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"{elapsed:.2f} s"
    point = M.evaluate_split(dev, test)
    for key in B.CI_KEYS:
        lo, hi = ci[f"{key}_ci"]
        assert lo <= point[key] <= hi, key
