"""Evaluation plots as PNG files (matplotlib, Agg backend: no display needed).

Spec: docs/metrics.md, "Score files and reports": ROC and DET curves with the operating point,
score histograms of live/print/replay with the threshold line, a grid of predicted depth maps.
Every function writes one file and closes its figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: must precede the pyplot import

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402

from . import metrics  # noqa: E402

_SPECIES_COLOURS = {"live": "tab:green", "print": "tab:red", "replay": "tab:blue", "attack": "tab:orange"}


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _operating_point(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float]:
    """(FAR, FRR) at ``threshold`` with the module convention live iff score >= threshold."""
    return metrics.apcer_pooled(scores, labels, threshold), metrics.bpcer(scores, labels, threshold)


def plot_roc(
    scores: Sequence[float], labels: Sequence[int], threshold: float, path: str | Path, title: str = "ROC (test)"
) -> Path:
    """ROC (live positive) with the operating point at ``threshold`` marked."""
    s, y = np.asarray(scores, dtype=float), np.asarray(labels)
    fpr, tpr, _ = metrics.roc_curve(s, y)
    far, frr = _operating_point(s, y, threshold)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"ROC, AUC = {metrics.auc(s, y):.4f}")
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=0.8)
    ax.plot([far], [1 - frr], "o", c="tab:red", label=f"t = {threshold:.4g}: FAR {far:.2%}, TPR {1 - frr:.2%}")
    ax.set(xlabel="FPR (attacks accepted, APCER pooled)", ylabel="TPR (live accepted, 1 - BPCER)", title=title,
           xlim=(-0.01, 1.01), ylim=(-0.01, 1.01))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_det(
    scores: Sequence[float], labels: Sequence[int], threshold: float, path: str | Path, title: str = "DET (test)"
) -> Path:
    """DET curve (FAR vs FRR on normal-deviate axes) with the operating point marked.

    Rates of exactly 0 or 1 have no normal deviate; they are clipped to [1e-4, 1 - 1e-4] so
    they stay on the plot at its edge.
    """
    s, y = np.asarray(scores, dtype=float), np.asarray(labels)
    far, frr, _ = metrics.det_curve(s, y)
    op_far, op_frr = _operating_point(s, y, threshold)
    eps = 1e-4

    def dev(p: np.ndarray | float) -> np.ndarray:
        return norm.ppf(np.clip(p, eps, 1 - eps))

    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 0.99])
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(dev(far), dev(frr), label="DET")
    ax.plot(dev(op_far), dev(op_frr), "o", c="tab:red",
            label=f"t = {threshold:.4g}: APCER pooled {op_far:.2%}, BPCER {op_frr:.2%}")
    ax.set_xticks(dev(ticks), [f"{100 * v:g}" for v in ticks])
    ax.set_yticks(dev(ticks), [f"{100 * v:g}" for v in ticks])
    lim = (dev(eps) - 0.1, dev(1 - eps) + 0.1)
    ax.set(xlabel="APCER pooled = FAR (%)", ylabel="BPCER = FRR (%)", title=title, xlim=lim, ylim=lim)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def plot_score_histograms(
    scores: Sequence[float],
    species: Sequence[str],
    threshold: float,
    path: str | Path,
    title: str = "Test scores",
    bins: int = 30,
) -> Path:
    """Histograms of the scores of each species (live, print, replay, ...) and the threshold line."""
    s = np.asarray(scores, dtype=float)
    sp = np.asarray([str(v) for v in species], dtype=object)
    if s.shape != sp.shape:
        raise ValueError(f"scores and species differ in length: {s.size} vs {sp.size}")
    names = sorted(set(sp), key=lambda n: (n != metrics.LIVE_SPECIES, n))
    lo, hi = float(s.min()), float(s.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in names:
        vals = s[sp == name]
        ax.hist(vals, bins=edges, alpha=0.5, label=f"{name} (n={vals.size})", color=_SPECIES_COLOURS.get(name))
    ax.axvline(threshold, c="k", ls="--", label=f"threshold {threshold:.4g} (live if score >= t)")
    ax.set(xlabel="score (higher = live)", ylabel="videos", title=title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_depth_grid(
    maps: Sequence[np.ndarray], titles: Sequence[str], path: str | Path, ncols: int = 4, cmap: str = "viridis"
) -> Path:
    """A grid of depth maps on one shared colour scale (so a flat attack map reads as flat).

    Maps are 2-D, or 3-D with a single channel first or last. The scale is [0, 1] for maps in
    [0, 1], else [0, max].
    """
    if len(maps) == 0:
        raise ValueError("plot_depth_grid needs at least one map")
    if len(titles) != len(maps):
        raise ValueError(f"{len(maps)} maps but {len(titles)} titles")
    arrays = [np.squeeze(np.asarray(m, dtype=np.float32)) for m in maps]
    for i, a in enumerate(arrays):
        if a.ndim != 2:
            raise ValueError(f"depth map {i} ({titles[i]}) has shape {np.shape(maps[i])}, expected 2-D")
    vmax = max(float(a.max()) for a in arrays)
    vmax = 1.0 if vmax <= 1.0 else vmax
    ncols = max(1, min(ncols, len(arrays)))
    nrows = -(-len(arrays) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 2.4 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    im = None
    for ax, a, t in zip(axes.flat, arrays, titles, strict=False):
        im = ax.imshow(a, cmap=cmap, vmin=0.0, vmax=vmax)
        ax.set_title(str(t), fontsize=8)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8)
    return _save(fig, path)


def plot_split(
    scores: Sequence[float], labels: Sequence[int], species: Sequence[str], threshold: float, out_dir: str | Path,
    set_name: str = "test",
) -> dict[str, Path]:
    """roc.png, det.png and hist.png of one set at ``threshold`` into ``out_dir``."""
    out = Path(out_dir)
    return {
        "roc": plot_roc(scores, labels, threshold, out / "roc.png", title=f"ROC ({set_name}), dev threshold"),
        "det": plot_det(scores, labels, threshold, out / "det.png", title=f"DET ({set_name}), dev threshold"),
        "hist": plot_score_histograms(scores, species, threshold, out / "hist.png",
                                      title=f"{set_name} scores, dev threshold"),
    }
