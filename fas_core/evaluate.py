"""Evaluate score files without a model (spec: metrics.md, "Score files and reports").

    python -m fas_core.evaluate DEV_SCORES TEST_SCORES [--json OUT] [--plots DIR]
    python -m fas_core.evaluate --fold DEV_1 TEST_1 --fold DEV_2 TEST_2 ... [--json OUT] [--plots DIR]

The threshold is the dev EER point, applied unchanged to test; a sample is live when
``score >= threshold``. With ``--fold`` (OULU protocols 3 and 4) every pair is evaluated on its
own and the mean and standard deviation of APCER, BPCER, ACER (and more) are reported.
Score file format: see :mod:`fas_core.scores`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import metrics, plots
from .fileio import write_json
from .scores import ScoreSet, read_scores


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100.0 * v:.2f}%"


def format_table(m: dict[str, Any]) -> str:
    """A plain-text table of one split's figures, each with the threshold it used."""
    t, tt = m["threshold"], m["threshold_test_EER"]
    rows = [
        ("APCER (worst attack species)", _pct(m["APCER"]), "dev EER"),
        *((f"  APCER[{k}]", _pct(v), "dev EER") for k, v in m["APCER_per_species"].items()),
        ("APCER_pooled (= FAR, all attacks)", _pct(m["APCER_pooled"]), "dev EER"),
        ("BPCER (= FRR)", _pct(m["BPCER"]), "dev EER"),
        ("ACER = (APCER + BPCER)/2", _pct(m["ACER"]), "dev EER"),
        ("HTER = (FAR + FRR)/2", _pct(m["HTER"]), "dev EER"),
        ("HTER at test's own EER threshold", _pct(m["HTER_at_test_EER_threshold"]), "test EER (not valid)"),
        ("EER_dev (on the dev set)", _pct(m["EER_dev"]), "dev EER"),
        ("EER_test", _pct(m["EER_test"]), "test EER"),
        ("AUC (test)", f"{m['AUC']:.4f}", "none"),
    ]
    rows += [(k + " (test)", _pct(v), "chosen on test") for k, v in m.items() if k.startswith("TPR@FPR")]
    if "BPCER20" in m:
        rows.append(("BPCER20 = BPCER at APCER 5% (test)", _pct(m["BPCER20"]), "chosen on test"))
    c = m["counts"]
    lines = [
        f"threshold (dev EER point, live iff score >= t): {t:.6g}    test's own EER threshold: {tt:.6g}",
        f"dev: {c['dev']['live']} live, {c['dev']['attack']} attack {c['dev']['attack_per_species']}    "
        f"test: {c['test']['live']} live, {c['test']['attack']} attack {c['test']['attack_per_species']}",
        f"{'figure (test set)':<40} {'value':>9}  threshold",
        "-" * 72,
    ]
    lines += [f"{name:<40} {val:>9}  {thr}" for name, val, thr in rows]
    return "\n".join(lines)


def format_fold_table(summary: dict[str, Any]) -> str:
    """Mean +- std table over folds."""
    lines = [f"{summary['folds']} folds, std with ddof={summary['std_ddof']}, each fold at its own dev threshold",
             f"{'figure (test set)':<20} {'mean':>9} {'std':>9}", "-" * 40]
    for k in metrics.FOLD_KEYS:
        if k in summary:
            v = summary[k]
            if k == "AUC":
                lines.append(f"{k:<20} {v['mean']:>9.4f} {v['std']:>9.4f}")
            else:
                lines.append(f"{k:<20} {100 * v['mean']:>8.2f}% {100 * v['std']:>8.2f}%")
    return "\n".join(lines)


def _plot(test: ScoreSet, threshold: float, plots_dir: str | Path) -> None:
    plots.plot_split(test.scores, test.labels, test.species, threshold, plots_dir)


def evaluate_sets(
    dev: ScoreSet, test: ScoreSet, json_out: str | Path | None = None, plots_dir: str | Path | None = None
) -> dict[str, Any]:
    """Figures for loaded score sets; optionally writes the JSON and roc/det/hist PNGs."""
    m = metrics.evaluate_split(dev, test)
    if json_out is not None:
        write_json(json_out, m)
    if plots_dir is not None:
        _plot(test, m["threshold"], plots_dir)
    return m


def evaluate_files(
    dev_path: str | Path, test_path: str | Path, json_out: str | Path | None = None,
    plots_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Read two score files, evaluate (dev EER threshold applied to test), write JSON/plots if asked."""
    m = evaluate_sets(read_scores(dev_path), read_scores(test_path), None, plots_dir)
    m["files"] = {"dev": str(dev_path), "test": str(test_path)}
    if json_out is not None:
        write_json(json_out, m)
    return m


def evaluate_folds(
    pairs: Sequence[tuple[str | Path, str | Path]], json_out: str | Path | None = None,
    plots_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate several (dev, test) pairs (protocols 3/4); returns ``{"folds": [...], "mean_std": {...}}``.

    Plots of fold k go to ``plots_dir/fold_k`` (k from 1).
    """
    folds = []
    for k, (dev_path, test_path) in enumerate(pairs, start=1):
        sub = None if plots_dir is None else Path(plots_dir) / f"fold_{k}"
        folds.append(evaluate_files(dev_path, test_path, None, sub))
    out = {"folds": folds, "mean_std": metrics.fold_mean_std(folds)}
    if json_out is not None:
        write_json(json_out, out)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fas_core.evaluate",
        description="ISO/IEC 30107-3 figures (APCER, BPCER, ACER, HTER, EER, AUC, ...) from a dev and a test "
        "score file. The threshold is the dev EER point, applied to test; live iff score >= threshold. "
        "Score file lines: 'video_name score label [species]', label 1 live / 0 attack.",
    )
    p.add_argument("dev", nargs="?", help="dev score file (chooses the threshold)")
    p.add_argument("test", nargs="?", help="test score file (reported figures)")
    p.add_argument("--fold", nargs=2, action="append", metavar=("DEV", "TEST"), default=[],
                   help="one (dev, test) pair of a multi-fold protocol (OULU 3/4); repeat per fold; "
                   "reports mean and std over folds")
    p.add_argument("--json", metavar="OUT", help="write all figures as JSON here")
    p.add_argument("--plots", metavar="DIR", help="write roc.png, det.png, hist.png here (fold_k/ per fold)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.fold and (args.dev or args.test):
        parser.error("give either DEV_SCORES TEST_SCORES or --fold pairs, not both")
    if not args.fold and not (args.dev and args.test):
        parser.error("need DEV_SCORES and TEST_SCORES (or --fold DEV TEST, repeated)")
    try:
        if args.fold:
            res = evaluate_folds([tuple(f) for f in args.fold], args.json, args.plots)
            for k, (f, m) in enumerate(zip(args.fold, res["folds"], strict=True), start=1):
                print(f"== fold {k}: dev {f[0]}  test {f[1]}\n{format_table(m)}\n")
            print(format_fold_table(res["mean_std"]))
        else:
            print(format_table(evaluate_files(args.dev, args.test, args.json, args.plots)))
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(f"JSON: {args.json}")
    if args.plots:
        print(f"plots: {args.plots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
