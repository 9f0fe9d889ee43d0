"""Does arm A beat arm B? Two training recipes, several seeds each, one test split (spec: docs/claims.md).

Every run of either arm scored the same dev and test videos (its ``dev_scores.txt`` and
``test_scores.txt``). The comparison is a **paired bootstrap over videos, pooled across seeds**:

* a resample draws test videos (and dev videos, which re-choose each run's threshold) with
  replacement within each class and attack species, exactly as :mod:`fas_core.bootstrap` does;
  the *same* resample is applied to every run of both arms, so the arms are compared on the
  same videos and the video-to-video luck cancels out;
* on each resample, each run's figure is computed at its own dev EER threshold; an arm's value
  is the mean over its seeds; the **gain** of A over B is ``mean ACER_B - mean ACER_A`` (for
  AUC, where higher is better, ``mean AUC_A - mean AUC_B``), so a positive gain favours A;
* the interval of a mean or of a gain is the pair of ``(1 - level) / 2`` and ``(1 + level) / 2``
  quantiles over the resamples (95 % by default).

The verdict (:func:`verdict`) is taken on ACER:

* ``holds``: the interval of the gain lies wholly above 0 **and** no seed favours B (for every
  seed ``s``, ``ACER_B(s) >= ACER_A(s)``; seed ``s`` of A is compared with seed ``s`` of B);
* ``does not hold``: the same with A and B swapped (interval wholly below 0, no seed favours A);
* ``inconclusive at this budget``: anything else.

The bootstrap interval covers which test (and dev) videos were recorded; the seed condition
guards against a gain that one lucky training seed makes, which the video resampling cannot see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .bootstrap import DEFAULT_SETTINGS, BootstrapSettings, bootstrap_values, percentile_interval
from .scores import ScoreSet, read_scores

HOLDS = "holds"
FAILS = "does not hold"
INCONCLUSIVE = "inconclusive at this budget"
# Figure -> True when a lower value is better.
FIGURES: dict[str, bool] = {"ACER": True, "AUC": False}
VERDICT_FIGURE = "ACER"
RULE_TEXT = ("holds: the 95% paired-bootstrap interval of the ACER gain (mean ACER of B minus mean ACER of A, "
             "test videos resampled within class and species, the same resample for every run, pooled across "
             "seeds) lies above 0 and no seed has a lower ACER with B than with A; does not hold: the same with "
             "A and B swapped; else inconclusive at this budget")


@dataclass(frozen=True)
class RunScores:
    """The dev and test video scores of one trained run."""

    dev: ScoreSet
    test: ScoreSet
    source: str

    @classmethod
    def from_dir(cls, test_dir: str | Path) -> RunScores:
        """Read ``dev_scores.txt`` and ``test_scores.txt`` of a test report folder."""
        d = Path(test_dir)
        return cls(read_scores(d / "dev_scores.txt"), read_scores(d / "test_scores.txt"), str(d))


def _sorted(s: ScoreSet) -> ScoreSet:
    order = np.argsort(np.array(s.names), kind="stable")
    return ScoreSet([s.names[i] for i in order], s.scores[order], s.labels[order], [s.species[i] for i in order])


def _aligned(runs: Sequence[RunScores]) -> list[RunScores]:
    """Every run's scores in video-name order, checked to cover the same videos (so resamples pair up)."""
    out = [RunScores(_sorted(r.dev), _sorted(r.test), r.source) for r in runs]
    first = out[0]
    for r in out[1:]:
        for split in ("dev", "test"):
            if getattr(r, split).names != getattr(first, split).names:
                raise ValueError(f"{r.source}: its {split} videos differ from those of {first.source}; "
                                 "arms can only be compared on the same videos")
    return out


def _figures_of(run: RunScores, settings: BootstrapSettings) -> dict[str, tuple[float, np.ndarray]]:
    """Per figure: the value on the whole split and its values on every resample."""
    whole = metrics.evaluate_split(run.dev, run.test)
    resampled = bootstrap_values(run.dev, run.test, settings)
    return {k: (float(whole[k]), np.asarray(resampled[k], dtype=np.float64)) for k in FIGURES}


def _arm_summary(values: np.ndarray, resampled: np.ndarray, level: float) -> dict[str, Any]:
    std = float(values.std(ddof=1)) if values.size > 1 else float("nan")
    return {"values": values.tolist(), "mean": float(values.mean()), "std": std,
            "ci": percentile_interval(resampled.mean(axis=0), level)}


def verdict(seed_gains: Sequence[float], gain_ci: Sequence[float]) -> str:
    """The verdict from the per-seed gains of A over B (positive: A better) and the gain's interval."""
    gains = np.asarray(seed_gains, dtype=np.float64)
    lo, hi = float(gain_ci[0]), float(gain_ci[1])
    if lo > 0.0 and bool(np.all(gains >= 0.0)):
        return HOLDS
    if hi < 0.0 and bool(np.all(gains <= 0.0)):
        return FAILS
    return INCONCLUSIVE


def _gain(a: np.ndarray, b: np.ndarray, lower_better: bool) -> np.ndarray:
    return b - a if lower_better else a - b


def compare_arms(arm_a: Sequence[RunScores], arm_b: Sequence[RunScores],
                 settings: BootstrapSettings = DEFAULT_SETTINGS) -> dict[str, Any]:
    """Mean, sample std and interval per arm and figure, the gain of A over B, and the verdict.

    ``arm_a[s]`` and ``arm_b[s]`` are the runs of seed ``s``; both arms need the same number of
    seeds. Returns ``{"seeds", "arms": {"A": {fig: ...}, "B": {...}}, "gain": {fig: {"per_seed",
    "mean", "ci"}}, "verdict", "rule", "bootstrap"}``.
    """
    if len(arm_a) != len(arm_b) or not arm_a:
        raise ValueError(f"both arms need the same number of seeds (at least one); got {len(arm_a)} and {len(arm_b)}")
    runs = _aligned([*arm_a, *arm_b])
    n = len(arm_a)
    figs = [_figures_of(r, settings) for r in runs]
    out: dict[str, Any] = {"seeds": n, "arms": {"A": {}, "B": {}}, "gain": {}}
    for key, lower_better in FIGURES.items():
        whole = np.array([f[key][0] for f in figs])
        resampled = np.stack([f[key][1] for f in figs])  # (runs, resamples)
        a, b = (whole[:n], resampled[:n]), (whole[n:], resampled[n:])
        out["arms"]["A"][key] = _arm_summary(*a, settings.level)
        out["arms"]["B"][key] = _arm_summary(*b, settings.level)
        per_seed = _gain(a[0], b[0], lower_better)
        per_resample = _gain(a[1].mean(axis=0), b[1].mean(axis=0), lower_better)
        out["gain"][key] = {"per_seed": per_seed.tolist(), "mean": float(per_seed.mean()),
                            "ci": percentile_interval(per_resample, settings.level)}
    g = out["gain"][VERDICT_FIGURE]
    out.update(verdict=verdict(g["per_seed"], g["ci"]), rule=RULE_TEXT, bootstrap=settings.describe())
    return out


def compare_dirs(dirs_a: Sequence[str | Path], dirs_b: Sequence[str | Path],
                 settings: BootstrapSettings = DEFAULT_SETTINGS) -> dict[str, Any]:
    """:func:`compare_arms` on test report folders (each with ``dev_scores.txt`` and ``test_scores.txt``)."""
    return compare_arms([RunScores.from_dir(d) for d in dirs_a], [RunScores.from_dir(d) for d in dirs_b], settings)


def _shown_as(key: str) -> tuple[float, int]:
    """``(scale, decimals)`` a figure is printed with: ACER in percent with 2, AUC as a fraction with 3."""
    return (1.0, 3) if key == "AUC" else (100.0, 2)


def format_mean_interval(summary: Mapping[str, Any], key: str) -> str:
    """``12.50 ± 6.25 [3.12, 25.00]`` (percent for ACER; AUC as a fraction)."""
    scale, digits = _shown_as(key)
    std = summary["std"]
    lo, hi = summary["ci"]
    spread = "n/a" if np.isnan(std) else f"{scale * std:.{digits}f}"
    return f"{scale * summary['mean']:.{digits}f} ± {spread} [{scale * lo:.{digits}f}, {scale * hi:.{digits}f}]"


def format_gain(gain: Mapping[str, Any], key: str) -> str:
    """``+6.25 [+1.00, +12.50] (seeds: +5.00, +7.50)``: the mean gain, its interval and the per-seed gains."""
    scale, digits = _shown_as(key)
    lo, hi = gain["ci"]
    seeds = ", ".join(f"{scale * g:+.{digits}f}" for g in gain["per_seed"])
    return f"{scale * gain['mean']:+.{digits}f} [{scale * lo:+.{digits}f}, {scale * hi:+.{digits}f}] (seeds: {seeds})"
