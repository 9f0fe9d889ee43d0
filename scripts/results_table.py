"""Print a markdown table of test figures from the metrics.json files of several runs.

usage: python scripts/results_table.py NAME=PATH/metrics.json [NAME=PATH ...]
A missing file is shown as such (the stage did not run), never as a number.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = ("APCER", "APCER_pooled", "BPCER", "ACER", "EER_test", "AUC")


def row(name: str, path: Path) -> str:
    if not path.is_file():
        return f"| {name} | " + " | ".join(["(not run)"] * len(COLUMNS)) + " |"
    figures = json.loads(path.read_text())
    cells = []
    for key in COLUMNS:
        value = figures.get(key)
        cells.append("-" if value is None else (f"{100 * value:.2f}" if key != "AUC" else f"{value:.4f}"))
    return f"| {name} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="NAME=path/to/metrics.json")
    args = parser.parse_args()
    print("| run | " + " | ".join(f"{c} (%)" if c != "AUC" else c for c in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for spec in args.runs:
        name, _, path = spec.partition("=")
        print(row(name, Path(path)))


if __name__ == "__main__":
    main()
