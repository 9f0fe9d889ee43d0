"""Bootstrap confidence intervals for the test figures of :func:`fas_core.metrics.evaluate_split`.

A test split of a few dozen videos moves ACER in steps of several points, so every reported
figure comes with a percentile bootstrap interval.

What is resampled
-----------------
* Videos, with replacement, **within each class and, for attacks, within each species**: every
  resample has as many live videos, and as many attacks of each species, as the set itself.
  APCER (the worst species) is therefore always defined and each species keeps its weight.
* Dev and test are resampled independently, from two random streams derived from one seed (the
  test resamples are the same whichever threshold mode is used).

The threshold (``threshold`` setting)
-------------------------------------
* ``"dev_resampled"`` (default): the threshold is chosen again on every dev resample by the dev
  EER rule of :func:`fas_core.metrics.eer_point` and applied to the paired test resample. The
  interval then covers both sources of chance in a reported figure: which test videos were
  recorded, and which dev videos fixed the operating point.
* ``"fixed"``: the threshold of the whole dev set is kept and only test is resampled (the
  uncertainty of the test figures at one given operating point).

Threshold-free figures (``EER_test``, ``AUC``) depend on the test resample only, ``EER_dev`` on
the dev resample only. The interval of a figure is the pair of ``(1 - level) / 2`` and
``(1 + level) / 2`` quantiles of its resampled values (numpy's default linear interpolation).

Speed: all resamples are evaluated at once with numpy (per-resample histograms over the distinct
scores), in chunks that bound the memory; 1,000 resamples of a few thousand videos take a
fraction of a second.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from . import metrics

THRESHOLD_MODES = ("dev_resampled", "fixed")
# Figures given an interval (with ``_ci`` appended in the results); EER_dev and the threshold
# itself only when the dev set is resampled.
CI_KEYS = ("APCER", "APCER_pooled", "BPCER", "ACER", "HTER", "EER_test", "AUC")
DEV_CI_KEYS = ("EER_dev", "threshold")
# Index matrices are drawn and evaluated this many elements (resamples x videos) at a time.
CHUNK_ELEMENTS = 1 << 21

THRESHOLD_TEXT = {
    "dev_resampled": "re-chosen on every dev resample by the dev EER rule, applied to the paired test resample",
    "fixed": "the dev EER threshold of the whole dev set, kept fixed; only test is resampled",
}


@dataclass(frozen=True)
class BootstrapSettings:
    """How the intervals are made: ``resamples`` draws, ``seed``, ``level`` (0.95 = 95 %), ``threshold`` mode."""

    resamples: int = 1000
    seed: int = 0
    level: float = 0.95
    threshold: str = "dev_resampled"

    def __post_init__(self) -> None:
        if isinstance(self.resamples, bool) or not isinstance(self.resamples, int) or self.resamples < 1:
            raise ValueError(f"bootstrap resamples must be a positive integer, got {self.resamples!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"bootstrap seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.level, (int, float)) or not 0.0 < float(self.level) < 1.0:
            raise ValueError(f"bootstrap level must be a number between 0 and 1 (e.g. 0.95), got {self.level!r}")
        if self.threshold not in THRESHOLD_MODES:
            raise ValueError(f"bootstrap threshold must be one of {list(THRESHOLD_MODES)}, got {self.threshold!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> BootstrapSettings:
        """Settings from a config section; an unknown key is an error that names it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown bootstrap setting(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(values))

    def describe(self) -> dict[str, Any]:
        """The ``bootstrap`` entry of ``metrics.json``: the settings and what they mean."""
        return {
            **asdict(self),
            "method": "percentile",
            "quantiles": [round((1.0 - self.level) / 2.0, 12), round((1.0 + self.level) / 2.0, 12)],
            "resampling": "videos with replacement within the live class and within each attack species "
            "(counts kept); dev and test resampled independently",
            "threshold_treatment": THRESHOLD_TEXT[self.threshold],
        }


DEFAULT_SETTINGS = BootstrapSettings()


# ----------------------------------------------------------------------------- one split, prepared
@dataclass(frozen=True)
class _Split:
    """A split laid out for resampling: strata (live first, then attack species by name)."""

    scores: np.ndarray  # float64, the videos in their original order
    live: np.ndarray  # bool, True for live videos
    strata: tuple[tuple[str, np.ndarray], ...]  # (species, positions of its videos)
    candidates: np.ndarray  # distinct scores, ascending
    candidate_of: np.ndarray  # index into candidates of each video's score

    @property
    def n_live(self) -> int:
        return self.strata[0][1].size


def _prepare(split: Any) -> _Split:
    s, y, sp = metrics.split_arrays(split)
    names = [metrics.LIVE_SPECIES] + sorted({str(v) for v in sp[~y]})
    strata = tuple((name, np.flatnonzero(sp == name)) for name in names)
    cands = np.unique(s)
    return _Split(s, y, strata, cands, np.searchsorted(cands, s))


def _draw(split: _Split, count: int, rng: np.random.Generator) -> np.ndarray:
    """``(count, n)`` video positions: each row a resample, strata in :attr:`_Split.strata` order."""
    blocks = [pos[rng.integers(0, pos.size, size=(count, pos.size))] for _, pos in split.strata]
    return np.concatenate(blocks, axis=1)


def _index_chunks(
    dev: _Split, test: _Split, settings: BootstrapSettings
) -> Iterator[tuple[np.ndarray | None, np.ndarray]]:
    """``(dev_positions or None, test_positions)`` for consecutive chunks of resamples."""
    dev_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(settings.seed).spawn(2))
    width = test.scores.size + (dev.scores.size if settings.threshold == "dev_resampled" else 0)
    chunk = max(1, CHUNK_ELEMENTS // width)
    for start in range(0, settings.resamples, chunk):
        count = min(chunk, settings.resamples - start)
        dev_idx = _draw(dev, count, dev_rng) if settings.threshold == "dev_resampled" else None
        yield dev_idx, _draw(test, count, test_rng)


def resample_indices(dev: Any, test: Any, settings: BootstrapSettings = DEFAULT_SETTINGS
                     ) -> tuple[np.ndarray | None, np.ndarray]:
    """The resamples :func:`bootstrap_values` evaluates, as positions into each split's videos.

    Returns ``(dev, test)`` arrays of shape ``(resamples, n)``; ``dev`` is ``None`` when the
    threshold is fixed. Row ``b`` of each is resample ``b``.
    """
    d, t = _prepare(dev), _prepare(test)
    chunks = list(_index_chunks(d, t, settings))
    dev_rows = None if chunks[0][0] is None else np.concatenate([c[0] for c in chunks])
    return dev_rows, np.concatenate([c[1] for c in chunks])


# ----------------------------------------------------------------------------- figures of many resamples
def _histograms(split: _Split, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per resample, how many live and how many attack videos have each distinct score: ``(rows, m)``."""
    m = split.candidates.size
    offsets = (np.arange(idx.shape[0], dtype=np.int64) * m)[:, None]

    def count(cols: np.ndarray) -> np.ndarray:
        flat = (split.candidate_of[cols] + offsets).ravel()
        return np.bincount(flat, minlength=idx.shape[0] * m).reshape(idx.shape[0], m)

    return count(idx[:, : split.n_live]), count(idx[:, split.n_live:])


def _at_least(hist: np.ndarray) -> np.ndarray:
    """Per row, how many videos score >= each candidate (reverse cumulative sum)."""
    return np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]


def _eer_rows(live: np.ndarray, attack: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The EER point of every resample, by the exact rule of :func:`fas_core.metrics.eer_point`.

    Candidates are the distinct scores *present in the resample*; among them the lowest
    ``|FAR - FRR|`` on counts, then the lowest ``FAR + FRR``, then the highest threshold.
    Returns ``(eer, threshold)`` per row.
    """
    n_live, n_att = int(live[0].sum()), int(attack[0].sum())
    n_fa = _at_least(attack)
    n_fr = n_live - _at_least(live)
    never = np.iinfo(np.int64).max
    gap = np.where(live + attack > 0, np.abs(n_fa * n_live - n_fr * n_att), never)
    total = np.where(gap == gap.min(axis=1, keepdims=True), n_fa * n_live + n_fr * n_att, never)
    best = total == total.min(axis=1, keepdims=True)
    j = best.shape[1] - 1 - np.argmax(best[:, ::-1], axis=1)  # the highest threshold among the best
    rows = np.arange(j.size)
    eer = (n_fa[rows, j] / n_att + n_fr[rows, j] / n_live) / 2.0
    return eer, candidates[j]


def _auc_rows(live: np.ndarray, attack: np.ndarray) -> np.ndarray:
    """AUC of every resample: P(live > attack) + P(tie) / 2, from the per-score counts."""
    below = np.cumsum(attack, axis=1) - attack
    twice_u = (live * (2 * below + attack)).sum(axis=1)  # integer: exact before the one division
    return twice_u / (2.0 * live[0].sum() * attack[0].sum())


def _rates_at(test: _Split, idx: np.ndarray, thresholds: np.ndarray) -> dict[str, Any]:
    """APCER per species, APCER, APCER_pooled, BPCER, ACER, HTER of each test resample at its threshold."""
    accepted = test.scores[idx] >= thresholds[:, None]  # live iff score >= t
    n_live = test.n_live
    bpcer = 1.0 - accepted[:, :n_live].mean(axis=1)
    per_species, start = {}, n_live
    for name, pos in test.strata[1:]:
        per_species[name] = accepted[:, start:start + pos.size].mean(axis=1)
        start += pos.size
    worst = np.max(np.stack(list(per_species.values())), axis=0)
    pooled = accepted[:, n_live:].mean(axis=1)
    return {"APCER": worst, "APCER_pooled": pooled, "APCER_per_species": per_species, "BPCER": bpcer,
            "ACER": (worst + bpcer) / 2.0, "HTER": (pooled + bpcer) / 2.0}


def _chunk_values(dev: _Split, test: _Split, dev_idx: np.ndarray | None, test_idx: np.ndarray,
                  fixed_threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if dev_idx is None:
        thresholds = np.full(test_idx.shape[0], fixed_threshold)
    else:
        out["EER_dev"], thresholds = _eer_rows(*_histograms(dev, dev_idx), dev.candidates)
        out["threshold"] = thresholds
    out.update(_rates_at(test, test_idx, thresholds))
    live, attack = _histograms(test, test_idx)
    out["EER_test"] = _eer_rows(live, attack, test.candidates)[0]
    out["AUC"] = _auc_rows(live, attack)
    return out


def _join(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, first in chunks[0].items():
        if isinstance(first, dict):
            out[key] = {k: np.concatenate([c[key][k] for c in chunks]) for k in first}
        else:
            out[key] = np.concatenate([c[key] for c in chunks])
    return out


def bootstrap_values(dev: Any, test: Any, settings: BootstrapSettings = DEFAULT_SETTINGS) -> dict[str, Any]:
    """Every interval figure on every resample: ``{key: array of length resamples}``.

    Keys: :data:`CI_KEYS`, ``APCER_per_species`` (``{species: array}``) and, when the dev set is
    resampled, ``EER_dev`` and ``threshold`` (the threshold chosen on each dev resample).
    ``dev``/``test`` as for :func:`fas_core.metrics.evaluate_split`.
    """
    d, t = _prepare(dev), _prepare(test)
    fixed = metrics.eer_threshold(d.scores, d.live) if settings.threshold == "fixed" else float("nan")
    chunks = [_chunk_values(d, t, di, ti, fixed) for di, ti in _index_chunks(d, t, settings)]
    return _join(chunks)


def percentile_interval(values: np.ndarray, level: float) -> list[float]:
    """``[lo, hi]``: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of ``values``."""
    lo, hi = np.quantile(values, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return [float(lo), float(hi)]


def confidence_intervals(dev: Any, test: Any, settings: BootstrapSettings = DEFAULT_SETTINGS) -> dict[str, Any]:
    """``{"<figure>_ci": [lo, hi], ..., "APCER_per_species_ci": {species: [lo, hi]}, "bootstrap": {...}}``.

    The figures are those of :func:`bootstrap_values`; ``bootstrap`` records the settings, the
    resampling scheme and how the threshold was treated (see the module docstring).
    """
    values = bootstrap_values(dev, test, settings)
    out: dict[str, Any] = {}
    for key, vals in values.items():
        if isinstance(vals, dict):
            out[f"{key}_ci"] = {k: percentile_interval(v, settings.level) for k, v in vals.items()}
        else:
            out[f"{key}_ci"] = percentile_interval(vals, settings.level)
    out["bootstrap"] = settings.describe()
    return out


def format_interval(ci: list[float] | None, percent: bool = True, digits: int = 2) -> str:
    """``[12.50, 43.75]`` (percent) or ``[0.8500, 1.0000]``; empty text when there is no interval."""
    if ci is None:
        return ""
    scale = 100.0 if percent else 1.0
    return f"[{scale * ci[0]:.{digits}f}, {scale * ci[1]:.{digits}f}]"
