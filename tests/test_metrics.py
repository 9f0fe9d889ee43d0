"""ISO/IEC 30107-3 figures checked against values worked out by hand (spec: docs/metrics.md)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from fas_core import metrics as M


def _split(live, attacks):
    """(scores, labels, species) from live scores and {species: scores}."""
    scores, labels, species = list(live), [1] * len(live), ["live"] * len(live)
    for name, vals in attacks.items():
        scores += list(vals)
        labels += [0] * len(vals)
        species += [name] * len(vals)
    return scores, labels, species


# ----------------------------------------------------------------------------- threshold convention
def test_tie_at_threshold_is_classified_live():
    s, y, _ = _split([0.5, 0.7], {"attack": [0.5, 0.2]})
    # live iff score >= t: the attack at exactly 0.5 is accepted, the live at 0.5 is accepted
    assert M.apcer_pooled(s, y, 0.5) == 0.5
    assert M.bpcer(s, y, 0.5) == 0.0
    # just above the tie both flip
    t = np.nextafter(0.5, 1.0)
    assert M.apcer_pooled(s, y, t) == 0.0
    assert M.bpcer(s, y, t) == 0.5


def test_one_species_worse_than_the_other():
    # print: 0.9 accepted, 0.1 rejected -> 1/2; replay: none of 4 accepted -> 0
    s, y, sp = _split([0.8, 0.6, 0.4], {"print": [0.9, 0.1], "replay": [0.2, 0.3, 0.1, 0.0]})
    t = 0.5
    assert M.apcer_per_species(s, y, sp, t) == {"print": 0.5, "replay": 0.0}
    assert M.apcer(s, y, sp, t) == 0.5  # worst species
    assert M.apcer_pooled(s, y, t) == pytest.approx(1 / 6)  # 1 of 6 attacks: differs from APCER
    assert M.bpcer(s, y, t) == pytest.approx(1 / 3)  # 0.4 rejected
    assert M.acer(s, y, sp, t) == pytest.approx((0.5 + 1 / 3) / 2)  # 5/12
    assert M.hter(s, y, t) == pytest.approx((1 / 6 + 1 / 3) / 2)  # 1/4
    # without species every attack is one species: APCER == APCER_pooled
    assert M.apcer(s, y, None, t) == pytest.approx(1 / 6)


def test_species_contradicting_label_is_rejected():
    with pytest.raises(ValueError, match="contradicts"):
        M.apcer([0.1, 0.9], [1, 0], ["print", "print"], 0.5)


# ----------------------------------------------------------------------------- EER threshold
def test_eer_threshold_hand_derived():
    # t=0.7: FAR 0, FRR 1/4; t=0.6: FAR 1/4, FRR 1/4 (gap 0); t=0.4: FAR 1/2, FRR 1/4
    s, y, _ = _split([0.9, 0.8, 0.7, 0.3], {"attack": [0.6, 0.4, 0.2, 0.1]})
    p = M.eer_point(s, y)
    assert p == {"threshold": 0.6, "eer": 0.25, "far": 0.25, "frr": 0.25}
    assert M.eer_threshold(s, y) == 0.6 and M.eer(s, y) == 0.25


def test_eer_gap_tie_broken_by_lower_error_sum_exactly():
    # N_live 3, N_attack 2. t=0.8: FAR 1/2, FRR 2/3 (gap 1/6, sum 7/6);
    # t=0.7: FAR 1/2, FRR 1/3 (gap 1/6, sum 5/6). In floats the two gaps differ in the last bit
    # (2/3-1/2 vs 1/2-1/3); on counts they are equal and the lower sum (t=0.7) wins.
    s, y, _ = _split([0.9, 0.7, 0.3], {"attack": [0.8, 0.2]})
    p = M.eer_point(s, y)
    assert p["threshold"] == 0.7
    assert p["eer"] == pytest.approx(5 / 12)


def test_eer_full_tie_takes_the_higher_threshold():
    # t=0.9: FAR 0, FRR 1/2; t=0.5 (live and attack tied there): FAR 1/2, FRR 0. Same gap and sum.
    s, y, _ = _split([0.9, 0.5], {"attack": [0.5, 0.1]})
    p = M.eer_point(s, y)
    assert p["threshold"] == 0.9 and p["eer"] == 0.25


def test_sklearn_inf_threshold_does_not_leak():
    # One live and one attack with the same score: every ROC point has |TPR + FPR - 1| = 1, so a
    # naive argmin over scikit-learn's roc_curve returns its first threshold (inf in recent
    # releases, max + 1 in older ones) -- not a score at all.
    s, y = [0.5, 0.5], [1, 0]
    fpr, tpr, thr = sk_roc_curve(y, s)
    naive = thr[np.argmin(np.abs(tpr + fpr - 1))]
    assert naive not in s
    t = M.eer_threshold(s, y)
    assert t == 0.5 and math.isfinite(t)
    assert M.eer(s, y) == 0.5  # FAR 1, FRR 0 at t = 0.5


def _brute_force_eer_threshold(s, y):
    """Independent reference with exact fractions over every distinct score."""
    live = [v for v, lab in zip(s, y, strict=True) if lab == 1]
    att = [v for v, lab in zip(s, y, strict=True) if lab == 0]
    best = None
    for t in sorted(set(s), reverse=True):
        far = Fraction(sum(v >= t for v in att), len(att))
        frr = Fraction(sum(v < t for v in live), len(live))
        key = (abs(far - frr), far + frr)
        if best is None or key < best[0]:  # strict: the higher t wins full ties
            best = (key, t)
    return best[1]


def test_eer_threshold_matches_exact_reference_on_random_sets_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(4, 30))
        y = rng.integers(0, 2, n)
        y[0], y[1] = 0, 1
        s = np.round(rng.normal(y * 0.8, 1.0) * 4) / 4  # coarse: many ties
        t = M.eer_threshold(s, y)
        assert t == _brute_force_eer_threshold(s.tolist(), y.tolist())
        assert t in s and math.isfinite(t)


# ----------------------------------------------------------------------------- curves, AUC
def test_roc_curve_is_finite_and_matches_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    s = np.round(rng.normal(y, 1.0), 1)
    fpr, tpr, thr = M.roc_curve(s, y)
    assert np.all(np.isfinite(thr)) and thr[0] > s.max()
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    sk_fpr, sk_tpr, sk_thr = sk_roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr[1:], sk_fpr[1:])
    np.testing.assert_allclose(tpr[1:], sk_tpr[1:])
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    far, frr, thr2 = M.det_curve(s, y)
    np.testing.assert_allclose(frr, 1 - tpr)
    np.testing.assert_array_equal(thr2, thr)


def test_auc_by_hand_and_against_sklearn():
    # pairs (live, attack): (.9,.5) 1, (.9,.1) 1, (.5,.5) tie 1/2, (.5,.1) 1 -> 3.5 / 4
    assert M.auc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == 0.875
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(y, 1.0), 1)
    assert M.auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_tpr_at_fpr():
    attacks = [i / 100 for i in range(100)]  # 0.00 .. 0.99
    live = [0.995, 0.985, 0.5, 0.2]
    s, y, _ = _split(live, {"attack": attacks})
    # FPR <= 1e-2 allows 1 of 100 attacks: lowest such threshold is 0.985 (only 0.99 accepted),
    # which accepts 0.995 and 0.985 -> TPR 2/4
    assert M.tpr_at_fpr(s, y, 1e-2) == 0.5
    assert M.tpr_at_fpr(s, y, 1e-3) is None  # 100 attacks cannot resolve 1e-3
    assert M.tpr_at_fpr(s, y, 1e-4) is None
    # top attack tied with the best live sample: no threshold accepts <= 1 attack and any live
    s2, y2, _ = _split([0.99, 0.5], {"attack": attacks[:-1] + [0.99, 0.99]})
    assert M.tpr_at_fpr(s2, y2, 1e-2) == 0.0


def test_bpcer20_worst_species_and_pooled():
    print_ = [i / 100 for i in range(20)]  # 0.00 .. 0.19
    replay = [round(0.5 + i / 100, 2) for i in range(20)]  # 0.50 .. 0.69
    live = [0.3, 0.6, 0.675, 0.685, 0.9]
    s, y, sp = _split(live, {"print": print_, "replay": replay})
    # worst species: replay may accept 1 of 20 -> lowest threshold 0.685 (accepts only 0.69);
    # live below it: 0.3, 0.6, 0.675 -> BPCER 3/5
    r = M.bpcer_at_apcer(s, y, sp, 0.05)
    assert r == {"bpcer": 0.6, "threshold": 0.685, "apcer": 0.05}
    # pooled: 2 of 40 attacks allowed -> threshold 0.675 (accepts 0.68, 0.69) -> BPCER 2/5
    r = M.bpcer_at_apcer(s, y, None, 0.05)
    assert r == {"bpcer": 0.4, "threshold": 0.675, "apcer": 0.05}


def test_bad_input_is_rejected_clearly():
    with pytest.raises(ValueError, match="both live and attack"):
        M.eer([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="NaN"):
        M.eer([0.1, float("nan")], [1, 0])
    with pytest.raises(ValueError, match="labels must be"):
        M.eer([0.1, 0.2], [1, 2])
    with pytest.raises(ValueError, match="length"):
        M.eer([0.1, 0.2, 0.3], [1, 0])


# ----------------------------------------------------------------------------- split and folds
def _hand_dev_test():
    dev = _split([0.9, 0.8, 0.7, 0.3], {"print": [0.6, 0.2], "replay": [0.4, 0.1]})
    test = _split([0.95, 0.65, 0.55, 0.5], {"print": [0.6, 0.1], "replay": [0.3, 0.2]})
    return dev, test


def test_evaluate_split_hand_values():
    dev, test = _hand_dev_test()
    m = M.evaluate_split(dev, test)
    assert m["threshold"] == 0.6  # dev EER point (see test_eer_threshold_hand_derived)
    assert m["EER_dev"] == 0.25
    # test at t = 0.6: print 0.6 accepted (tie) -> 1/2; replay 0; live 0.55, 0.5 rejected -> 1/2
    assert m["APCER_per_species"] == {"print": 0.5, "replay": 0.0}
    assert m["APCER"] == 0.5 and m["APCER_pooled"] == 0.25
    assert m["BPCER"] == 0.5
    assert m["ACER"] == 0.5 and m["HTER"] == 0.375
    # test's own EER threshold: 0.55 (FAR 1/4, FRR 1/4)
    assert m["threshold_test_EER"] == 0.55
    assert m["EER_test"] == 0.25 and m["HTER_at_test_EER_threshold"] == 0.25
    # live beats attacks: 0.95 -> 4, 0.65 -> 4, 0.55 -> 3, 0.5 -> 3; 14/16
    assert m["AUC"] == 0.875
    assert m["TPR@FPR=1e-2"] is None and m["TPR@FPR=1e-3"] is None and m["TPR@FPR=1e-4"] is None
    # 2 attacks per species: APCER <= 5% means none accepted: t just above 0.6 -> live 0.95, 0.65 kept
    assert m["BPCER20"] == 0.5
    assert m["dev"]["APCER_per_species"] == {"print": 0.5, "replay": 0.0}
    assert m["dev"]["BPCER"] == 0.25
    assert m["counts"]["test"] == {"live": 4, "attack": 4, "attack_per_species": {"print": 2, "replay": 2}}
    for key in ("threshold", "APCER", "APCER_pooled", "BPCER", "ACER", "HTER", "EER_dev", "EER_test", "AUC",
                "HTER_at_test_EER_threshold", "BPCER20"):
        assert key in m["definitions"]  # every headline figure says what it is and its threshold


def test_fold_mean_std():
    folds = [{"APCER": 0.1, "BPCER": 0.0, "ACER": 0.05}, {"APCER": 0.2, "BPCER": 0.2, "ACER": 0.2},
             {"APCER": 0.3, "BPCER": 0.1, "ACER": 0.2}]
    r = M.fold_mean_std(folds, keys=("APCER", "BPCER", "ACER"))
    assert r["folds"] == 3 and r["std_ddof"] == 1
    assert r["APCER"]["mean"] == pytest.approx(0.2) and r["APCER"]["std"] == pytest.approx(0.1)
    assert r["BPCER"]["mean"] == pytest.approx(0.1) and r["BPCER"]["std"] == pytest.approx(0.1)
    assert r["ACER"]["values"] == [0.05, 0.2, 0.2]
    r0 = M.fold_mean_std(folds, keys=("APCER",), ddof=0)
    assert r0["APCER"]["std"] == pytest.approx(math.sqrt(0.02 / 3))
    with pytest.raises(ValueError, match="missing"):
        M.fold_mean_std([{"APCER": 0.1}, {}], keys=("APCER",))
