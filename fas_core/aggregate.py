"""Mean and standard deviation of the test figures over several runs (e.g. training seeds).

A run is given as its folder (``<run>/metrics.json`` or ``<run>/test/metrics.json``), its
``test/`` folder, or a metrics file itself. Two kinds of file are understood, never mixed:

* ``split``: one dev/test evaluation (``metrics.json`` of a test report, or
  ``python -m fas_core.evaluate DEV TEST --json``); a run's value is its test figure.
* ``folds``: a multi-fold summary (``python -m fas_core.evaluate --fold ... --json``); a run's
  value is its mean over the folds.

The spread is the sample standard deviation (``ddof=1``), so at least two runs are needed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import metrics
from .fileio import read_json, write_json

RUN_KEYS = ("APCER", "BPCER", "ACER", "HTER", "EER_test", "AUC")
RUN_DDOF = 1
KIND_TEXT = {"split": "each run's test figures (one dev/test split)",
             "folds": "each run's mean over its folds"}


def metrics_file(path: str | Path) -> Path:
    """The metrics file of a run given as a file, a run folder or its ``test/`` folder."""
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        for candidate in (p / "metrics.json", p / "test" / "metrics.json"):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"{p}: no metrics.json in this folder or in its test/ folder")
    raise FileNotFoundError(f"{p}: no such run folder or metrics file")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_run(path: str | Path) -> dict[str, Any]:
    """``{"file", "kind", "figures"}`` of one run; a one-line ``ValueError`` names a file that will not do."""
    f = metrics_file(path)
    try:
        data = read_json(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{f}: not valid JSON ({e.msg}, line {e.lineno})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{f}: not a text file") from None
    if isinstance(data, dict) and isinstance(data.get("mean_std"), dict):
        kind = "folds"
        figures = {k: v.get("mean") for k, v in data["mean_std"].items() if isinstance(v, dict)}
    elif isinstance(data, dict) and "ACER" in data:
        kind, figures = "split", data
    else:
        raise ValueError(f"{f}: not a metrics file: it has neither 'ACER' (one split) nor 'mean_std' (folds)")
    bad = [k for k in RUN_KEYS if not _number(figures.get(k))]
    if bad:
        raise ValueError(f"{f}: missing or non-numeric figure(s) {bad} (needed: {list(RUN_KEYS)})")
    return {"file": str(f), "kind": kind, "figures": {k: float(figures[k]) for k in RUN_KEYS}}


def aggregate_runs(paths: Sequence[str | Path], json_out: str | Path | None = None) -> dict[str, Any]:
    """Mean and sample std (``ddof=1``) of :data:`RUN_KEYS` over runs; optionally written as JSON.

    Returns ``{"runs": n, "std_ddof": 1, "kind", "files", "<figure>": {"mean", "std", "values"}, ...}``.
    """
    runs = [read_run(p) for p in paths]
    files = [r["file"] for r in runs]
    twice = sorted({f for f in files if files.count(f) > 1})
    if twice:
        raise ValueError(f"the same metrics file given more than once: {twice}")
    kinds = {r["kind"] for r in runs}
    if len(kinds) > 1:
        raise ValueError("mixed kinds of metrics file: " + ", ".join(f"{r['file']} ({r['kind']})" for r in runs))
    kind = kinds.pop()
    out = metrics.mean_std([r["figures"] for r in runs], RUN_KEYS, ddof=RUN_DDOF, unit="runs")
    out.update(kind=kind, files=files, definitions={
        "values": KIND_TEXT[kind], "std": f"sample standard deviation over runs (ddof={RUN_DDOF})",
        "EER_test": "EER of the test set at its own EER threshold"})
    if json_out is not None:
        write_json(json_out, out)
    return out
