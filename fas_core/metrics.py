"""Presentation attack detection metrics after ISO/IEC 30107-3, as OULU-NPU reports them.

Spec: ``docs/metrics.md`` ("ISO/IEC 30107-3 as OULU-NPU uses it", "Other figures").

Conventions used everywhere in this module
-------------------------------------------
* Scores: higher = more likely live (bona fide). Labels: 1 = live, 0 = attack.
* **A sample is classified live when ``score >= t``** (ties at the threshold are live).
* Attack species are strings (OULU: ``"print"`` for file codes 2, 3 and ``"replay"`` for 4, 5);
  when none are given every attack belongs to the single species ``"attack"``.

Figures (every one names exactly what it measures)
--------------------------------------------------
* ``APCER_s``: share of the attacks of species ``s`` classified live.
* ``APCER``: ``max_s APCER_s`` (the worst species, OULU-NPU's headline figure).
* ``APCER_pooled``: share of *all* attacks classified live. This is the false acceptance rate
  (FAR); CDCN's and DSDG's code call it APCER. It equals ``APCER`` when there is one species.
* ``BPCER``: share of the live samples classified attack (the false rejection rate, FRR).
* ``ACER = (APCER + BPCER) / 2``.
* ``HTER = (FAR + FRR) / 2 = (APCER_pooled + BPCER) / 2``.
* ``EER``: the value ``(FAR + FRR) / 2`` at the EER threshold of the same set (see
  :func:`eer_threshold`); FAR and FRR there are as close as the scores allow.
* ``AUC``: area under the ROC (live positive); a live/attack tie counts one half.
* ``TPR@FPR=f``: the highest share of live samples accepted by a threshold whose FAR is at most
  ``f``; ``None`` when there are fewer than ``1/f`` attacks (the figure cannot be resolved).
* ``BPCER20``: BPCER at the lowest threshold whose APCER (worst species) is at most 5 %.

The dev threshold is chosen on the dev set and applied unchanged to the test set
(:func:`evaluate_split`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

LIVE_SPECIES = "live"
DEFAULT_ATTACK_SPECIES = "attack"
DEFAULT_FPRS = (1e-2, 5e-3, 1e-3, 1e-4)  # 1 %, 0.5 %, 0.1 % as the cross-domain and CelebA-Spoof papers, and 0.01 %

THRESHOLD_RULE = (
    "dev EER point: among the distinct dev scores t, the one minimising |TPR(t) + FPR(t) - 1| "
    "(= |FAR - FRR|, live positive, live iff score >= t), compared exactly on sample counts; "
    "ties broken by the lower FAR + FRR, then by the higher t"
)

DEFINITIONS = {
    "convention": "a sample is classified live when score >= threshold; labels 1 live, 0 attack",
    "threshold": THRESHOLD_RULE,
    "APCER": "max over attack species of the share of that species' test attacks classified live "
    "(at the dev threshold)",
    "APCER_pooled": "share of all test attacks classified live, species pooled (= FAR; what CDCN/DSDG "
    "code call APCER), at the dev threshold",
    "APCER_per_species": "per attack species: share of its test attacks classified live, at the dev threshold",
    "BPCER": "share of live test samples classified attack (= FRR), at the dev threshold",
    "ACER": "(APCER + BPCER) / 2 on test, at the dev threshold",
    "HTER": "(APCER_pooled + BPCER) / 2 = (FAR + FRR) / 2 on test, at the dev threshold",
    "EER_dev": "(FAR + FRR) / 2 on dev at the dev EER threshold",
    "EER_test": "(FAR + FRR) / 2 on test at the test set's own EER threshold",
    "threshold_test_EER": "the test set's own EER threshold (same rule as the dev threshold); "
    "NOT a valid operating point, reported for comparison with cross-dataset papers",
    "HTER_at_test_EER_threshold": "(FAR + FRR) / 2 on test at the test set's own EER threshold",
    "AUC": "area under the test ROC (live positive; ties count 1/2); threshold-free",
    "AUC_dev": "area under the dev ROC; threshold-free",
    "TPR@FPR": "highest share of live test samples accepted at a threshold with FAR <= FPR (threshold "
    "chosen on test); null when the test set has fewer than 1/FPR attacks",
    "BPCER20": "test BPCER at the lowest threshold (chosen on test) whose APCER (worst species) is <= 5%",
    "dev": "APCER, APCER_pooled, BPCER, ACER on the dev set at the dev threshold",
    "counts": "number of live and attack videos (per species) in dev and test",
}


# ----------------------------------------------------------------------------- input checks
def _as_arrays(scores: Sequence[float], labels: Sequence[int], need_both: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Scores as finite float64 and labels as bool (True = live); clear errors on bad input."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    raw = np.asarray(labels).reshape(-1)
    if s.shape != raw.shape:
        raise ValueError(f"scores and labels differ in length: {s.size} vs {raw.size}")
    if s.size == 0:
        raise ValueError("no scores given")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{int((~np.isfinite(s)).sum())} score(s) are NaN or infinite")
    if not np.all(np.isin(raw, (0, 1))):
        bad = sorted({str(v) for v in raw[~np.isin(raw, (0, 1))]})[:5]
        raise ValueError(f"labels must be 1 (live) or 0 (attack); found {bad}")
    y = raw.astype(bool)
    if need_both and (y.all() or not y.any()):
        raise ValueError(f"need both live and attack samples; got {int(y.sum())} live, {int((~y).sum())} attack")
    return s, y


def _as_species(species: Sequence[str | None] | None, y: np.ndarray) -> np.ndarray:
    """Species per sample as strings; ``None`` (or a missing list) gives live/attack by label."""
    if species is None:
        return np.where(y, LIVE_SPECIES, DEFAULT_ATTACK_SPECIES).astype(object)
    sp = np.asarray(list(species), dtype=object).reshape(-1)
    if sp.shape != y.shape:
        raise ValueError(f"species and labels differ in length: {sp.size} vs {y.size}")
    out = np.empty(sp.shape, dtype=object)
    for i, (name, live) in enumerate(zip(sp, y, strict=True)):
        if name is None:
            out[i] = LIVE_SPECIES if live else DEFAULT_ATTACK_SPECIES
        elif live != (name == LIVE_SPECIES):
            raise ValueError(f"sample {i}: label {int(live)} contradicts species {name!r}")
        else:
            out[i] = str(name)
    return out


def _count_ge(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of ``sorted_values`` are >= each threshold (int64): the 'classified live' count."""
    return sorted_values.size - np.searchsorted(sorted_values, thresholds, side="left").astype(np.int64)


def _above_all(s: np.ndarray) -> float:
    """A finite threshold just above every score: classifies everything as attack."""
    return float(np.nextafter(s.max(), np.inf))


# ----------------------------------------------------------------------------- rates at a threshold
def apcer_per_species(
    scores: Sequence[float], labels: Sequence[int], species: Sequence[str | None] | None, threshold: float
) -> dict[str, float]:
    """``APCER_s`` for every attack species present: share of its attacks with ``score >= threshold``."""
    s, y = _as_arrays(scores, labels, need_both=False)
    sp = _as_species(species, y)
    out = {}
    for name in sorted({str(v) for v in sp[~y]}):
        mask = (~y) & (sp == name)
        out[name] = float(np.mean(s[mask] >= threshold))
    if not out:
        raise ValueError("no attack samples: APCER is undefined")
    return out


def apcer(
    scores: Sequence[float], labels: Sequence[int], species: Sequence[str | None] | None, threshold: float
) -> float:
    """ISO APCER as OULU-NPU reports it: the worst (maximum) ``APCER_s`` over attack species."""
    return max(apcer_per_species(scores, labels, species, threshold).values())


def apcer_pooled(scores: Sequence[float], labels: Sequence[int], threshold: float) -> float:
    """Share of all attacks classified live (= FAR); not ISO APCER when there are several species."""
    s, y = _as_arrays(scores, labels, need_both=False)
    if y.all():
        raise ValueError("no attack samples: APCER_pooled is undefined")
    return float(np.mean(s[~y] >= threshold))


def bpcer(scores: Sequence[float], labels: Sequence[int], threshold: float) -> float:
    """Share of live samples classified attack (``score < threshold``) (= FRR)."""
    s, y = _as_arrays(scores, labels, need_both=False)
    if not y.any():
        raise ValueError("no live samples: BPCER is undefined")
    return float(np.mean(s[y] < threshold))


def acer(
    scores: Sequence[float], labels: Sequence[int], species: Sequence[str | None] | None, threshold: float
) -> float:
    """``(APCER + BPCER) / 2`` with APCER the worst species."""
    return (apcer(scores, labels, species, threshold) + bpcer(scores, labels, threshold)) / 2.0


def hter(scores: Sequence[float], labels: Sequence[int], threshold: float) -> float:
    """Half total error rate ``(FAR + FRR) / 2`` (attacks pooled)."""
    return (apcer_pooled(scores, labels, threshold) + bpcer(scores, labels, threshold)) / 2.0


# ----------------------------------------------------------------------------- EER
def eer_point(scores: Sequence[float], labels: Sequence[int]) -> dict[str, float]:
    """The EER operating point of one set: ``{"threshold", "eer", "far", "frr"}``.

    Rule (docs/metrics.md): candidate thresholds are the distinct scores; take the one minimising
    ``|TPR + FPR - 1|`` (live positive, live iff ``score >= t``), which is ``|FAR - FRR|``.
    The comparison is made exactly on integer counts (``|n_fa * N_live - n_fr * N_attack|``) so
    that float rounding never decides between two thresholds. Ties are broken by the lower
    ``FAR + FRR``, then by the higher threshold (scikit-learn's ROC order, strictest first).
    The threshold is always one of the scores, never ``inf``. ``eer = (FAR + FRR) / 2`` there.
    """
    s, y = _as_arrays(scores, labels)
    live, att = np.sort(s[y]), np.sort(s[~y])
    n_live, n_att = np.int64(live.size), np.int64(att.size)
    cands = np.unique(s)
    n_fa = _count_ge(att, cands)  # attacks accepted
    n_fr = n_live - _count_ge(live, cands)  # live rejected
    gap = np.abs(n_fa * n_live - n_fr * n_att)  # |FAR - FRR| * N_live * N_attack
    total = n_fa * n_live + n_fr * n_att  # (FAR + FRR) * N_live * N_attack
    order = np.lexsort((-cands, total, gap))  # last key is primary
    i = int(order[0])
    far, frr = float(n_fa[i] / n_att), float(n_fr[i] / n_live)
    return {"threshold": float(cands[i]), "eer": (far + frr) / 2.0, "far": far, "frr": frr}


def eer_threshold(scores: Sequence[float], labels: Sequence[int]) -> float:
    """The EER threshold of a set (see :func:`eer_point` for the exact rule and tie-breaking)."""
    return eer_point(scores, labels)["threshold"]


def eer(scores: Sequence[float], labels: Sequence[int]) -> float:
    """EER of a set: ``(FAR + FRR) / 2`` at its own EER threshold."""
    return eer_point(scores, labels)["eer"]


# ----------------------------------------------------------------------------- curves and AUC
def roc_curve(scores: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC with live positive: ``(fpr, tpr, thresholds)``, thresholds decreasing.

    The first threshold is the float just above the highest score (point (0, 0)), so the array is
    finite, unlike scikit-learn's leading ``inf``; the others are the distinct scores.
    """
    s, y = _as_arrays(scores, labels)
    thr = np.concatenate([[_above_all(s)], np.unique(s)[::-1]])
    tpr = _count_ge(np.sort(s[y]), thr) / y.sum()
    fpr = _count_ge(np.sort(s[~y]), thr) / (~y).sum()
    return fpr.astype(np.float64), tpr.astype(np.float64), thr


def det_curve(scores: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DET: ``(far, frr, thresholds)`` = (APCER_pooled, BPCER) at the ROC thresholds."""
    fpr, tpr, thr = roc_curve(scores, labels)
    return fpr, 1.0 - tpr, thr


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC = P(live score > attack score) + P(tie) / 2 (Mann-Whitney form).

    Computed with mid-ranks, which equals the trapezoidal area under the full ROC (the value
    ``sklearn.metrics.roc_auc_score`` gives; checked in the tests).
    """
    s, y = _as_arrays(scores, labels)
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(s.size, dtype=np.float64)
    # mid-ranks: every run of equal scores gets the mean of its 1-based positions
    _, start, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    mid = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(mid, counts)
    n_live, n_att = int(y.sum()), int((~y).sum())
    u = ranks[y].sum() - n_live * (n_live + 1) / 2.0
    return float(u / (n_live * n_att))


def tpr_at_fpr(scores: Sequence[float], labels: Sequence[int], fpr: float) -> float | None:
    """Highest TPR over thresholds whose FPR (FAR) is at most ``fpr``.

    ``None`` when the set has fewer than ``1/fpr`` attacks: the smallest non-zero FPR it can
    measure is then above ``fpr`` and the figure would only be TPR at FPR = 0.
    """
    s, y = _as_arrays(scores, labels)
    n_att = int((~y).sum())
    if n_att * fpr < 1.0 - 1e-9:
        return None
    thr = np.concatenate([[_above_all(s)], np.unique(s)])
    n_fa = _count_ge(np.sort(s[~y]), thr)
    ok = n_fa <= fpr * n_att + 1e-9  # compared on counts, not on rounded rates
    return float(_count_ge(np.sort(s[y]), thr[ok]).max() / y.sum())


def bpcer_at_apcer(
    scores: Sequence[float],
    labels: Sequence[int],
    species: Sequence[str | None] | None = None,
    apcer_target: float = 0.05,
) -> dict[str, float]:
    """BPCER at the APCER operating point ``apcer_target`` (0.05 gives BPCER20).

    The threshold is the lowest candidate (distinct scores and the value just above all scores)
    whose APCER (worst species when ``species`` is given, else pooled) is at most
    ``apcer_target``; as APCER falls and BPCER rises with the threshold, this is the lowest
    BPCER meeting the target. Returns ``{"bpcer", "threshold", "apcer"}``.
    """
    s, y = _as_arrays(scores, labels)
    sp = _as_species(species, y)
    cands = np.concatenate([np.unique(s), [_above_all(s)]])
    worst = np.zeros(cands.size)
    for name in sorted({str(v) for v in sp[~y]}):
        vals = np.sort(s[(~y) & (sp == name)])
        n_acc = _count_ge(vals, cands)
        # exact comparison on counts: n_acc / n <= target  <=>  n_acc <= target * n
        rate = n_acc / vals.size
        rate[n_acc > apcer_target * vals.size + 1e-9] = np.inf
        worst = np.maximum(worst, rate)
    i = int(np.flatnonzero(np.isfinite(worst))[0])  # the last candidate always accepts no attack
    t = float(cands[i])
    return {"bpcer": float(np.mean(s[y] < t)), "threshold": t, "apcer": float(worst[i])}


# ----------------------------------------------------------------------------- split evaluation
def fpr_key(fpr: float) -> str:
    """The figure name of the TPR at ``fpr``: ``TPR@FPR=1e-2``, ``TPR@FPR=0.005``."""
    exp = round(math.log10(fpr))
    return f"TPR@FPR=1e{exp}" if math.isclose(10.0**exp, fpr) else f"TPR@FPR={fpr:g}"


def split_arrays(split: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scores, live, species)`` arrays of a split, checked: float64 scores, bool labels (True = live),
    species strings. ``split``: an object with ``scores``, ``labels``, ``species`` or a
    ``(scores, labels[, species])`` tuple."""
    if hasattr(split, "scores") and hasattr(split, "labels"):
        sc, lab, sp = split.scores, split.labels, getattr(split, "species", None)
    elif isinstance(split, (tuple, list)) and len(split) in (2, 3):
        sc, lab, sp = split[0], split[1], split[2] if len(split) == 3 else None
    else:
        raise TypeError("a split must have .scores/.labels[/.species] or be (scores, labels[, species])")
    s, y = _as_arrays(sc, lab)
    return s, y, _as_species(sp, y)


def counts(labels: Sequence[int], species: Sequence[str | None] | None = None) -> dict[str, Any]:
    """Numbers of live and attack samples, and attacks per species."""
    y = np.asarray(labels).astype(bool).reshape(-1)
    sp = _as_species(species, y)
    per = {name: int(np.sum((~y) & (sp == name))) for name in sorted({str(v) for v in sp[~y]})}
    return {"live": int(y.sum()), "attack": int((~y).sum()), "attack_per_species": per}


def _rates(s: np.ndarray, y: np.ndarray, sp: np.ndarray, t: float) -> dict[str, Any]:
    per = apcer_per_species(s, y, sp, t)
    worst = max(per.values())
    pooled = apcer_pooled(s, y, t)
    b = bpcer(s, y, t)
    return {
        "APCER": worst,
        "APCER_pooled": pooled,
        "APCER_per_species": per,
        "BPCER": b,
        "ACER": (worst + b) / 2.0,
        "HTER": (pooled + b) / 2.0,
    }


def evaluate_split(
    dev: Any, test: Any, fprs: Sequence[float] = DEFAULT_FPRS, apcer_target: float = 0.05
) -> dict[str, Any]:
    """Every figure of docs/metrics.md for one (dev, test) pair; the threshold is the dev EER point.

    ``dev`` and ``test``: a :class:`fas_core.scores.ScoreSet` (or anything with ``scores``,
    ``labels``, ``species``) or a ``(scores, labels[, species])`` tuple. ``species`` entries may
    be ``None`` (attack species ``"attack"``). The returned dict is JSON-serialisable; its key
    ``definitions`` says what each figure is and which threshold it used.
    """
    ds, dy, dsp = split_arrays(dev)
    ts, ty, tsp = split_arrays(test)
    dev_pt = eer_point(ds, dy)
    t = dev_pt["threshold"]
    test_pt = eer_point(ts, ty)
    on_test = _rates(ts, ty, tsp, t)
    on_dev = _rates(ds, dy, dsp, t)
    b20 = bpcer_at_apcer(ts, ty, tsp, apcer_target)
    out: dict[str, Any] = {"threshold": t, "threshold_rule": THRESHOLD_RULE}
    out.update(on_test)
    out.update(
        {
            "EER_dev": dev_pt["eer"],
            "EER_test": test_pt["eer"],
            "threshold_test_EER": test_pt["threshold"],
            "HTER_at_test_EER_threshold": (test_pt["far"] + test_pt["frr"]) / 2.0,
            "AUC": auc(ts, ty),
            "AUC_dev": auc(ds, dy),
        }
    )
    for f in fprs:
        out[fpr_key(f)] = tpr_at_fpr(ts, ty, f)
    key = "BPCER20" if math.isclose(apcer_target, 0.05) else f"BPCER@APCER={apcer_target:g}"
    out[key] = b20["bpcer"]
    out[f"{key}_threshold"] = b20["threshold"]
    out["dev"] = {k: on_dev[k] for k in ("APCER", "APCER_pooled", "APCER_per_species", "BPCER", "ACER", "HTER")}
    out["counts"] = {"dev": counts(dy, dsp), "test": counts(ty, tsp)}
    out["definitions"] = DEFINITIONS
    return out


FOLD_KEYS = ("APCER", "APCER_pooled", "BPCER", "ACER", "HTER", "EER_test", "AUC")


def mean_std(
    results: Sequence[dict[str, Any]], keys: Sequence[str], ddof: int = 1, unit: str = "folds"
) -> dict[str, Any]:
    """Mean and standard deviation of each figure in ``keys`` over several results (folds or runs).

    The count is stored under ``unit`` and the ``ddof`` used under ``std_ddof``; each key maps to
    ``{"mean", "std", "values"}``.
    """
    if not results:
        raise ValueError(f"no {unit} to take the mean and std of")
    if ddof >= len(results):
        raise ValueError(f"std with ddof={ddof} needs more than {ddof} {unit}; got {len(results)}")
    out: dict[str, Any] = {unit: len(results), "std_ddof": ddof}
    for k in keys:
        missing = [i for i, r in enumerate(results) if r.get(k) is None]
        if missing:
            raise ValueError(f"figure {k!r} missing in {unit} {missing}")
        vals = np.array([float(r[k]) for r in results])
        out[k] = {"mean": float(vals.mean()), "std": float(vals.std(ddof=ddof)), "values": vals.tolist()}
    return out


def fold_mean_std(results: Sequence[dict[str, Any]], keys: Sequence[str] = FOLD_KEYS, ddof: int = 1) -> dict[str, Any]:
    """Mean and standard deviation over folds (OULU protocols 3 and 4: six folds).

    ``ddof=1`` (sample standard deviation, MATLAB's ``std``) by default; the value used is stored
    under ``std_ddof``, the number of folds under ``folds``. Each key maps to ``{"mean", "std", "values"}``.
    """
    return mean_std(results, keys, ddof, unit="folds")
