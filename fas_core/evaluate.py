"""Evaluate score files without a model (spec: docs/metrics.md, "Score files and reports").

    python -m fas_core.evaluate DEV_SCORES TEST_SCORES [--json OUT] [--plots DIR] [--resamples N --seed S
                                [--level L] [--ci-threshold dev_resampled|fixed]]
    python -m fas_core.evaluate --fold DEV_1 TEST_1 --fold DEV_2 TEST_2 ... [--json OUT] [--plots DIR]
    python -m fas_core.evaluate --runs RUN RUN ... [--json OUT]

The threshold is the dev EER point, applied unchanged to test; a sample is live when
``score >= threshold``. Every figure of a split comes with a percentile bootstrap interval
(:mod:`fas_core.bootstrap`: 1,000 resamples, seed 0, 95 %, the dev threshold re-chosen on each dev
resample by default). With ``--fold`` (OULU protocols 3 and 4) every pair is evaluated on its
own and the mean and standard deviation of APCER, BPCER, ACER (and more) are reported. With
``--runs`` the ``metrics.json`` of several runs (training seeds) are summarised as mean and
sample std (:mod:`fas_core.aggregate`). Score file format: see :mod:`fas_core.scores`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import metrics, plots
from .aggregate import RUN_KEYS, aggregate_runs
from .bootstrap import DEFAULT_SETTINGS, THRESHOLD_MODES, BootstrapSettings, confidence_intervals, format_interval
from .errors import run_cli
from .fileio import write_json
from .scores import ScoreSet, read_scores


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100.0 * v:.2f}%"


def _row(label: str, value: float | None, ci: list[float] | None, threshold: str,
         percent: bool = True) -> tuple[str, str, str, str]:
    if percent:
        return label, _pct(value), format_interval(ci), threshold
    return label, "n/a" if value is None else f"{value:.4f}", format_interval(ci, percent=False, digits=4), threshold


def figure_rows(m: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(figure, value, interval, threshold used)`` texts of one split's figures, for tables and cards.

    The interval column is empty for figures without a ``<key>_ci`` entry (no bootstrap, or a
    figure whose threshold is chosen on test).
    """
    per_ci = m.get("APCER_per_species_ci", {})
    rows = [
        _row("APCER (worst attack species)", m["APCER"], m.get("APCER_ci"), "dev EER"),
        *(_row(f"  APCER[{k}]", v, per_ci.get(k), "dev EER") for k, v in m["APCER_per_species"].items()),
        _row("APCER_pooled (= FAR, all attacks)", m["APCER_pooled"], m.get("APCER_pooled_ci"), "dev EER"),
        _row("BPCER (= FRR)", m["BPCER"], m.get("BPCER_ci"), "dev EER"),
        _row("ACER = (APCER + BPCER)/2", m["ACER"], m.get("ACER_ci"), "dev EER"),
        _row("HTER = (FAR + FRR)/2", m["HTER"], m.get("HTER_ci"), "dev EER"),
        _row("HTER at test's own EER threshold", m["HTER_at_test_EER_threshold"], None, "test EER (not valid)"),
        _row("EER_dev (on the dev set)", m["EER_dev"], m.get("EER_dev_ci"), "dev EER"),
        _row("EER_test", m["EER_test"], m.get("EER_test_ci"), "test EER"),
        _row("AUC (test)", m["AUC"], m.get("AUC_ci"), "none", percent=False),
    ]
    rows += [_row(k + " (test)", v, None, "chosen on test") for k, v in m.items() if k.startswith("TPR@FPR")]
    if "BPCER20" in m:
        rows.append(_row("BPCER20 = BPCER at APCER 5% (test)", m["BPCER20"], None, "chosen on test"))
    return rows


def interval_note(m: dict[str, Any]) -> str:
    """One line saying how the intervals were made, or that there are none."""
    b = m.get("bootstrap")
    if not b:
        return "no confidence intervals (bootstrap off)"
    return (f"[lo, hi]: {100 * b['level']:g}% percentile bootstrap interval, {b['resamples']} resamples "
            f"(seed {b['seed']}) of the videos within each class and attack species; threshold: "
            f"{b['threshold_treatment']}")


def interval_header(m: dict[str, Any]) -> str:
    """``95% CI`` (the level used), or ``CI`` without intervals."""
    return f"{100 * m['bootstrap']['level']:g}% CI" if m.get("bootstrap") else "CI"


def format_table(m: dict[str, Any]) -> str:
    """A plain-text table of one split's figures, each with its interval and the threshold it used."""
    t, tt = m["threshold"], m["threshold_test_EER"]
    c = m["counts"]
    level = interval_header(m)
    spread = m.get("threshold_ci")
    spread = f" (over dev resamples: {spread[0]:.6g} to {spread[1]:.6g})" if spread else ""
    lines = [
        f"threshold (dev EER point, live iff score >= t): {t:.6g}{spread}    test's own EER threshold: {tt:.6g}",
        f"dev: {c['dev']['live']} live, {c['dev']['attack']} attack {c['dev']['attack_per_species']}    "
        f"test: {c['test']['live']} live, {c['test']['attack']} attack {c['test']['attack_per_species']}",
        interval_note(m),
        f"{'figure (test set)':<40} {'value':>9}  {level:<18}  threshold",
        "-" * 90,
    ]
    lines += [f"{name:<40} {val:>9}  {ci:<18}  {thr}" for name, val, ci, thr in figure_rows(m)]
    return "\n".join(lines)


def format_mean_std(summary: dict[str, Any], keys: Sequence[str], header: str) -> str:
    """``mean ± std`` table (percent; AUC as a fraction) with each value, under a header line."""
    lines = [header, f"{'figure (test set)':<20} {'mean ± std':<20}  values", "-" * 72]
    for k in keys:
        if k in summary:
            v = summary[k]
            scale, digits, unit = (1.0, 4, "") if k == "AUC" else (100.0, 2, " %")
            spread = f"{scale * v['mean']:.{digits}f} ± {scale * v['std']:.{digits}f}{unit}"
            vals = ", ".join(f"{scale * x:.{digits}f}" for x in v["values"])
            lines.append(f"{k:<20} {spread:<20}  {vals}")
    return "\n".join(lines)


def format_fold_table(summary: dict[str, Any]) -> str:
    """Mean +- std table over folds."""
    header = f"{summary['folds']} folds, std with ddof={summary['std_ddof']}, each fold at its own dev threshold"
    return format_mean_std(summary, metrics.FOLD_KEYS, header)


def format_runs_table(summary: dict[str, Any]) -> str:
    """Mean +- sample std table over runs, with n and what one run's value is."""
    header = (f"n = {summary['runs']} runs, mean and sample std (ddof={summary['std_ddof']}) of "
              f"{summary['definitions']['values']}")
    return format_mean_std(summary, RUN_KEYS, header)


def _plot(test: ScoreSet, threshold: float, plots_dir: str | Path) -> None:
    plots.plot_split(test.scores, test.labels, test.species, threshold, plots_dir)


def evaluate_with_intervals(dev: Any, test: Any, bootstrap: BootstrapSettings | None = DEFAULT_SETTINGS
                            ) -> dict[str, Any]:
    """:func:`fas_core.metrics.evaluate_split` plus the bootstrap intervals (``<figure>_ci``, ``bootstrap``).

    ``bootstrap=None`` gives the figures alone. How the intervals are made (resampling within
    class and species, the dev threshold re-chosen on each dev resample by default): see
    :mod:`fas_core.bootstrap`.
    """
    m = metrics.evaluate_split(dev, test)
    if bootstrap is not None:
        m.update(confidence_intervals(dev, test, bootstrap))
        m["definitions"] = {**m["definitions"], "<figure>_ci": "percentile bootstrap interval of the figure; "
                            "settings and threshold treatment under 'bootstrap'"}
    return m


def evaluate_sets(
    dev: ScoreSet, test: ScoreSet, json_out: str | Path | None = None, plots_dir: str | Path | None = None,
    bootstrap: BootstrapSettings | None = DEFAULT_SETTINGS,
) -> dict[str, Any]:
    """Figures (with intervals unless ``bootstrap`` is None) for loaded score sets; optionally JSON and PNGs."""
    m = evaluate_with_intervals(dev, test, bootstrap)
    if json_out is not None:
        write_json(json_out, m)
    if plots_dir is not None:
        _plot(test, m["threshold"], plots_dir)
    return m


def evaluate_files(
    dev_path: str | Path, test_path: str | Path, json_out: str | Path | None = None,
    plots_dir: str | Path | None = None, bootstrap: BootstrapSettings | None = DEFAULT_SETTINGS,
) -> dict[str, Any]:
    """Read two score files, evaluate (dev EER threshold applied to test), write JSON/plots if asked."""
    m = evaluate_sets(read_scores(dev_path), read_scores(test_path), None, plots_dir, bootstrap)
    m["files"] = {"dev": str(dev_path), "test": str(test_path)}
    if json_out is not None:
        write_json(json_out, m)
    return m


def evaluate_folds(
    pairs: Sequence[tuple[str | Path, str | Path]], json_out: str | Path | None = None,
    plots_dir: str | Path | None = None, bootstrap: BootstrapSettings | None = DEFAULT_SETTINGS,
) -> dict[str, Any]:
    """Evaluate several (dev, test) pairs (protocols 3/4); returns ``{"folds": [...], "mean_std": {...}}``.

    Plots of fold k go to ``plots_dir/fold_k`` (k from 1).
    """
    folds = []
    for k, (dev_path, test_path) in enumerate(pairs, start=1):
        sub = None if plots_dir is None else Path(plots_dir) / f"fold_{k}"
        folds.append(evaluate_files(dev_path, test_path, None, sub, bootstrap))
    out = {"folds": folds, "mean_std": metrics.fold_mean_std(folds)}
    if json_out is not None:
        write_json(json_out, out)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fas_core.evaluate",
        description="ISO/IEC 30107-3 figures (APCER, BPCER, ACER, HTER, EER, AUC, ...) from a dev and a test "
        "score file, each with a bootstrap confidence interval. The threshold is the dev EER point, applied "
        "to test; live iff score >= threshold. Score file lines: 'video_name score label [species]', label 1 "
        "live / 0 attack. With --runs: mean and sample std over the metrics.json of several runs (seeds).",
    )
    p.add_argument("dev", nargs="?", help="dev score file (chooses the threshold)")
    p.add_argument("test", nargs="?", help="test score file (reported figures)")
    p.add_argument("--fold", nargs=2, action="append", metavar=("DEV", "TEST"), default=[],
                   help="one (dev, test) pair of a multi-fold protocol (OULU 3/4); repeat per fold; "
                   "reports mean and std over folds")
    p.add_argument("--runs", nargs="+", metavar="RUN",
                   help="aggregate runs (e.g. training seeds): each a run folder, its test/ folder or a "
                   "metrics.json (one split, or a --fold JSON); prints mean and sample std (ddof=1)")
    p.add_argument("--json", metavar="OUT", help="write all figures as JSON here")
    p.add_argument("--plots", metavar="DIR", help="write roc.png, det.png, hist.png here (fold_k/ per fold)")
    b = p.add_argument_group("confidence intervals (percentile bootstrap over videos)")
    b.add_argument("--resamples", type=int, default=DEFAULT_SETTINGS.resamples,
                   help=f"bootstrap resamples (default: {DEFAULT_SETTINGS.resamples}; 0: no intervals)")
    b.add_argument("--seed", type=int, default=DEFAULT_SETTINGS.seed,
                   help=f"random seed of the resamples (default: {DEFAULT_SETTINGS.seed})")
    b.add_argument("--level", type=float, default=DEFAULT_SETTINGS.level,
                   help=f"confidence level (default: {DEFAULT_SETTINGS.level})")
    b.add_argument("--ci-threshold", choices=THRESHOLD_MODES, default=DEFAULT_SETTINGS.threshold,
                   help="dev_resampled (default): threshold re-chosen on each dev resample, so the interval "
                   "includes the threshold's uncertainty; fixed: the dev threshold kept, only test resampled")
    return p


def _bootstrap_settings(args: argparse.Namespace) -> BootstrapSettings | None:
    if args.resamples == 0:
        return None
    return BootstrapSettings(args.resamples, args.seed, args.level, args.ci_threshold)


def _check_mode(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    modes = [bool(args.dev or args.test), bool(args.fold), bool(args.runs)]
    if sum(modes) > 1:
        parser.error("give one of: DEV_SCORES TEST_SCORES, --fold pairs, --runs")
    if not any(modes) or (modes[0] and not (args.dev and args.test)):
        parser.error("need DEV_SCORES and TEST_SCORES (or --fold DEV TEST, repeated, or --runs RUN ...)")
    if args.runs and args.plots:
        parser.error("--plots does not apply to --runs")


def _run(args: argparse.Namespace) -> None:
    if args.runs:
        print(format_runs_table(aggregate_runs(args.runs, args.json)))
        return
    bootstrap = _bootstrap_settings(args)
    if args.fold:
        res = evaluate_folds([tuple(f) for f in args.fold], args.json, args.plots, bootstrap)
        for k, (f, m) in enumerate(zip(args.fold, res["folds"], strict=True), start=1):
            print(f"== fold {k}: dev {f[0]}  test {f[1]}\n{format_table(m)}\n")
        print(format_fold_table(res["mean_std"]))
    else:
        print(format_table(evaluate_files(args.dev, args.test, args.json, args.plots, bootstrap)))


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0, or 2 with one line naming the bad file (``--debug``: its traceback)."""
    return run_cli(_main, argv, also=(OSError, ValueError), return_status=True)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_mode(parser, args)
    _run(args)
    if args.json:
        print(f"JSON: {args.json}")
    if args.plots:
        print(f"plots: {args.plots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
