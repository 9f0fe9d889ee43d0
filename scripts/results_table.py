"""Print a markdown table of test figures from the metrics.json files of several runs.

usage: python scripts/results_table.py NAME=PATH/metrics.json [NAME=PATH ...]
Each figure is followed by its bootstrap confidence interval when the file has one
(``ACER 25.00 [12.5, 43.8]``); a line under the table says how the intervals were made.
A missing file is shown as such (the stage did not run), never as a number.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fas_core.bootstrap import format_interval  # noqa: E402
from fas_core.errors import UserError, run_cli  # noqa: E402
from fas_core.evaluate import interval_note  # noqa: E402

COLUMNS = ("APCER", "APCER_pooled", "BPCER", "ACER", "EER_test", "AUC")


def cell(figures: dict[str, Any], key: str) -> str:
    """``25.00 [12.5, 43.8]`` (percent) or ``0.8750 [0.625, 1.000]`` (AUC); ``-`` when absent."""
    value = figures.get(key)
    if value is None:
        return "-"
    percent = key != "AUC"
    text = f"{100 * value:.2f}" if percent else f"{value:.4f}"
    ci = format_interval(figures.get(f"{key}_ci"), percent=percent, digits=1 if percent else 3)
    return f"{text} {ci}" if ci else text


def row(name: str, path: Path) -> tuple[str, dict[str, Any] | None]:
    """The markdown row of one run and its figures (``None`` when the file is missing)."""
    if not path.is_file():
        return f"| {name} | " + " | ".join(["(not run)"] * len(COLUMNS)) + " |", None
    try:
        figures = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not a metrics.json written by test.py ({e})") from None
    if not isinstance(figures, dict):
        raise UserError(f"{path}: not a metrics.json written by test.py (no mapping of figures)")
    return f"| {name} | " + " | ".join(cell(figures, key) for key in COLUMNS) + " |", figures


def main(argv: list[str] | None = None) -> None:
    """Bad input (a damaged metrics.json, a run without NAME=) exits 2 with one line (``--debug``: traceback)."""
    run_cli(_main, argv)


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="NAME=path/to/metrics.json")
    args = parser.parse_args(argv)
    bad = [spec for spec in args.runs if not spec.partition("=")[0] or not spec.partition("=")[2]]
    if bad:
        parser.error(f"'{bad[0]}': give each run as NAME=path/to/metrics.json")
    print("| run | " + " | ".join(f"{c} (%)" if c != "AUC" else c for c in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    notes = []
    for spec in args.runs:
        name, _, path = spec.partition("=")
        text, figures = row(name, Path(path))
        print(text)
        if figures is not None and figures.get("bootstrap"):
            notes.append(interval_note(figures))
    for note in dict.fromkeys(notes):  # one line per distinct setting, in order
        print(f"\n{note}")


if __name__ == "__main__":
    main()
