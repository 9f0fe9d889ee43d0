"""Print the markdown table of a cross-domain run beside an intra-domain one (docs/datasets.md, "Cross-domain demo").

usage: python scripts/mcio_table.py --task TITLE --cross RUN/test/metrics.json [--intra TITLE=RUN/test/metrics.json]

Rows: the cross-domain model under the default rule (model and threshold chosen on held-out
source videos), the literature's threshold (the target test set's own EER point) on that model,
and the literature's rule (its model too: the step with the lowest target HTER), when the run
kept it (``eval.selection: target_oracle``); then the intra-domain run under the default rule.
Columns: HTER, AUC (each with its 95 % bootstrap interval), TPR at FPR = 1 % (``n/a`` when the test set
has fewer than 100 attacks).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROWS = (
    ("source_dev", "default: model and threshold on held-out source videos"),
    ("test_eer_threshold", "literature's threshold (target EER) on that model"),
    ("target_oracle", "literature's rule: target-EER threshold, step of lowest target HTER"),
)


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def interval(ci: list[float] | None, scale: float, digits: int) -> str:
    """`` [lo, hi]`` (the 95 % bootstrap interval) or nothing when the run stored none."""
    return "" if ci is None else f" [{scale * ci[0]:.{digits}f}, {scale * ci[1]:.{digits}f}]"


def cells(rule: dict[str, Any]) -> str:
    hter = percent(rule["HTER"]) + interval(rule.get("HTER_ci"), 100, 2)
    auc = f"{rule['AUC']:.4f}" + interval(rule.get("AUC_ci"), 1, 4)
    return f"{hter} | {auc} | {percent(rule.get('TPR@FPR=1e-2'))}"


def counts(metrics: dict[str, Any]) -> str:
    test = metrics["counts"]["test"]
    return f"{test['live']} live / {test['attack']} attack"


def table(task: str, cross: dict[str, Any], intra: tuple[str, dict[str, Any]] | None) -> list[str]:
    lines = ["| training | rule | HTER (%) [95% CI] | AUC [95% CI] | TPR@FPR=1% (%) |", "|---|---|---|---|---|"]
    rules = cross["selection_rules"]
    for key, text in ROWS:
        if key in rules:
            lines.append(f"| {task} | {text} | {cells(rules[key])} |")
    if intra is not None:
        title, m = intra
        lines.append(f"| {title} | default (dev split of its own) | {cells(m['selection_rules']['source_dev'])} |")
    note = f"Test videos: {counts(cross)} (cross-domain)"
    if intra is not None:
        note += f", {counts(intra[1])} ({intra[0]})"
    return [*lines, "", note + "."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, help="the cross-domain task's title, e.g. 'O&C&I->M'")
    parser.add_argument("--cross", required=True, help="metrics.json of the cross-domain run's test")
    parser.add_argument("--intra", default=None, help="TITLE=metrics.json of an intra-domain run on the target")
    args = parser.parse_args()
    cross = json.loads(Path(args.cross).read_text())
    intra = None
    if args.intra:
        title, _, path = args.intra.partition("=")
        intra = (title, json.loads(Path(path).read_text()))
    print("\n".join(table(args.task, cross, intra)))


if __name__ == "__main__":
    main()
