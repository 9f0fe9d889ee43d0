"""The test report every method's ``test.py`` writes at its end (spec: docs/metrics.md).

:func:`write_test_report` writes into ``out_dir``:

* ``dev_scores.txt``, ``test_scores.txt``: video-level score files (:mod:`fas_core.scores`);
* ``frame_scores.txt`` (or ``<split>_frame_scores.txt``) when per-frame scores are given;
* ``metrics.json``: every figure of :func:`fas_core.metrics.evaluate_split` with its bootstrap
  confidence interval (``<figure>_ci``, settings under ``bootstrap``);
* ``roc.png``, ``det.png``, ``hist.png``: test set at the dev threshold;
* ``depth_grid.png`` when depth samples are given;
* ``model_card.md``: the caller's fields (data, protocol, config, checkpoint, ...), the dev
  threshold, the test figures with their intervals and the command line.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import plots
from .bootstrap import DEFAULT_SETTINGS, BootstrapSettings
from .evaluate import _pct, evaluate_with_intervals, figure_rows, interval_header, interval_note
from .fileio import atomic_write_text, write_json
from .scores import ScoreSet, write_frame_scores, write_scores

# Card fields shown first, in this order; any other key follows in the caller's order.
_CARD_ORDER = ("method", "data", "protocol", "checkpoint", "config")


def _frame_files(out: Path, frame_scores: Sequence | Mapping[str, Sequence] | None) -> list[str]:
    if frame_scores is None:
        return []
    if isinstance(frame_scores, Mapping):
        names = []
        for split, rows in frame_scores.items():
            write_frame_scores(out / f"{split}_frame_scores.txt", rows)
            names.append(f"{split}_frame_scores.txt")
        return names
    write_frame_scores(out / "frame_scores.txt", frame_scores)
    return ["frame_scores.txt"]


def _md_value(value: Any) -> str:
    """A card field as markdown: mappings as bullet lists (nested one level), the rest as text."""
    if isinstance(value, Mapping):
        lines = []
        for k, v in value.items():
            if isinstance(v, Mapping):
                lines.append(f"- `{k}`:")
                lines += [f"  - `{k2}`: `{v2}`" for k2, v2 in v.items()]
            else:
                lines.append(f"- `{k}`: `{v}`")
        return "\n".join(lines)
    if isinstance(value, (list, tuple)):
        return "\n".join(f"- {v}" for v in value)
    return str(value)


def _threshold_spread(m: dict[str, Any]) -> str:
    spread = m.get("threshold_ci")
    if not spread:
        return ""
    return (f"\n- threshold chosen on dev resamples ({interval_header(m)}): `{spread[0]:.6g}` to `{spread[1]:.6g}`; "
            "the test intervals include this uncertainty")


def model_card_text(m: dict[str, Any], card: Mapping[str, Any] | None = None) -> str:
    """Markdown model card: caller fields, the dev threshold, test figures, the command line."""
    card = dict(card or {})
    title = card.pop("title", None) or card.get("method") or "Face anti-spoofing model"
    command = card.pop("command", None) or shlex.join([Path(sys.executable).name, *sys.argv])
    parts = [f"# Model card: {title}"]
    keys = [k for k in _CARD_ORDER if k in card] + [k for k in card if k not in _CARD_ORDER]
    for k in keys:
        parts.append(f"## {k.replace('_', ' ').capitalize()}\n\n{_md_value(card[k])}")
    c = m["counts"]
    parts.append(
        "## Operating threshold\n\n"
        f"- threshold: `{m['threshold']:.6g}` ({m['threshold_rule']})\n"
        "- a video is classified live when its score >= threshold\n"
        f"- dev set: {c['dev']['live']} live, {c['dev']['attack']} attack videos; EER_dev {_pct(m['EER_dev'])}"
        + _threshold_spread(m)
    )
    table = [f"| figure | value | {interval_header(m)} | threshold |", "|---|---|---|---|"]
    table += [f"| {name.strip()} | {value} | {ci} | {thr} |" for name, value, ci, thr in figure_rows(m)]
    parts.append(
        f"## Test figures\n\nTest set: {c['test']['live']} live, {c['test']['attack']} attack videos "
        f"{c['test']['attack_per_species']}. {interval_note(m)}.\n\n" + "\n".join(table)
    )
    parts.append(f"## Command line\n\n```\n{command}\n```")
    return "\n\n".join(parts) + "\n"


def write_test_report(
    out_dir: str | Path,
    dev_scores: Sequence[Sequence],
    test_scores: Sequence[Sequence],
    frame_scores: Sequence[Sequence] | Mapping[str, Sequence[Sequence]] | None = None,
    depth_samples: Sequence[tuple[np.ndarray, str]] | None = None,
    model_card: Mapping[str, Any] | None = None,
    bootstrap: BootstrapSettings | None = DEFAULT_SETTINGS,
) -> dict[str, Any]:
    """Write scores, metrics, plots and the model card into ``out_dir``; returns the metrics dict.

    * ``dev_scores`` / ``test_scores``: rows ``(video, score, label, species-or-None)``, label 1
      live / 0 attack; species ``None`` is derived from the OULU name (see :mod:`fas_core.scores`).
    * ``frame_scores``: rows ``(video, frame_index, score, label)``, or ``{"dev": rows, "test": rows}``.
    * ``depth_samples``: ``(depth_map, title)`` pairs for ``depth_grid.png``.
    * ``model_card``: free fields shown in ``model_card.md`` (e.g. ``method``, ``data``,
      ``protocol``, ``checkpoint``, ``config`` (a dict), ``command``; ``command`` defaults to
      this process's command line).
    * ``bootstrap``: how the confidence intervals (``<figure>_ci`` in the metrics) are made
      (:mod:`fas_core.bootstrap`; default 1,000 resamples, seed 0, 95 %, the dev threshold
      re-chosen on each dev resample); ``None`` for none.

    The metrics dict also lists the files written under ``files``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = write_scores(out / "dev_scores.txt", ScoreSet.from_rows(dev_scores, source="dev scores"))
    test = write_scores(out / "test_scores.txt", ScoreSet.from_rows(test_scores, source="test scores"))
    files = ["dev_scores.txt", "test_scores.txt", *_frame_files(out, frame_scores)]
    m = evaluate_with_intervals(dev, test, bootstrap)
    plots.plot_split(test.scores, test.labels, test.species, m["threshold"], out)
    files += ["roc.png", "det.png", "hist.png"]
    if depth_samples:
        plots.plot_depth_grid([d for d, _ in depth_samples], [t for _, t in depth_samples], out / "depth_grid.png")
        files.append("depth_grid.png")
    atomic_write_text(out / "model_card.md", model_card_text(m, model_card))
    files += ["model_card.md", "metrics.json"]
    m["files"] = files
    write_json(out / "metrics.json", m)
    return m
