"""Mean and sample std over runs (``python -m fas_core.evaluate --runs``) and the demo's results table."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from fas_core import aggregate, evaluate

REPO = Path(__file__).resolve().parents[1]
KEYS = ("APCER", "BPCER", "ACER", "HTER", "EER_test", "AUC")
# three seeds' test figures, written by hand
RUN_A = dict(zip(KEYS, (0.125, 0.25, 0.1875, 0.15, 0.2, 0.9), strict=True))
RUN_B = dict(zip(KEYS, (0.25, 0.0, 0.125, 0.1, 0.1, 0.95), strict=True))
RUN_C = dict(zip(KEYS, (0.375, 0.5, 0.4375, 0.35, 0.3, 0.85), strict=True))
# mean and sample std (ddof=1) by hand: sum of squared deviations / (3 - 1)
EXPECTED = {
    "APCER": (0.25, math.sqrt((0.125**2 + 0 + 0.125**2) / 2)),  # 0.125
    "BPCER": (0.25, math.sqrt((0 + 0.25**2 + 0.25**2) / 2)),  # 0.25
    "ACER": (0.25, math.sqrt((0.0625**2 + 0.125**2 + 0.1875**2) / 2)),
    "HTER": (0.2, math.sqrt((0.05**2 + 0.1**2 + 0.15**2) / 2)),
    "EER_test": (0.2, 0.1),
    "AUC": (0.9, 0.05),
}


def _json(path: Path, obj: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _three_runs(tmp_path: Path) -> list[str]:
    """Run A as a run folder (metrics in test/), B as its test/ folder, C as the file itself."""
    _json(tmp_path / "seed0" / "test" / "metrics.json", {**RUN_A, "threshold": 0.5, "ACER_ci": [0.0, 0.5]})
    _json(tmp_path / "seed1" / "test" / "metrics.json", RUN_B)
    c = _json(tmp_path / "seed2" / "m.json", RUN_C)
    return [str(tmp_path / "seed0"), str(tmp_path / "seed1" / "test"), str(c)]


def test_runs_mean_and_sample_std_by_hand(tmp_path, capsys):
    out = tmp_path / "summary.json"
    assert evaluate.main(["--runs", *_three_runs(tmp_path), "--json", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["runs"] == 3 and summary["std_ddof"] == 1 and summary["kind"] == "split"
    assert summary["files"][0] == str(tmp_path / "seed0" / "test" / "metrics.json")
    for key, (mean, std) in EXPECTED.items():
        assert summary[key]["mean"] == pytest.approx(mean, abs=1e-12), key
        assert summary[key]["std"] == pytest.approx(std, abs=1e-12), key
    assert summary["ACER"]["values"] == [0.1875, 0.125, 0.4375]
    printed = capsys.readouterr().out
    assert "n = 3 runs" in printed and "sample std (ddof=1)" in printed
    line = next(ln for ln in printed.splitlines() if ln.startswith("APCER"))
    assert line.split()[:5] == ["APCER", "25.00", "±", "12.50", "%"]
    auc = next(ln for ln in printed.splitlines() if ln.startswith("AUC"))
    assert auc.split()[:4] == ["AUC", "0.9000", "±", "0.0500"]


def test_runs_of_fold_summaries_use_each_runs_fold_mean(tmp_path):
    def folds_file(path, means):
        mean_std = {"folds": 6, "std_ddof": 1, **{k: {"mean": v, "std": 0.01, "values": [v] * 6}
                                                   for k, v in means.items()}}
        return str(_json(path, {"folds": [], "mean_std": mean_std}))

    files = [folds_file(tmp_path / "a.json", RUN_A), folds_file(tmp_path / "b.json", RUN_B)]
    summary = aggregate.aggregate_runs(files)
    assert summary["kind"] == "folds" and summary["runs"] == 2
    assert summary["BPCER"]["mean"] == pytest.approx(0.125)
    assert summary["BPCER"]["std"] == pytest.approx(math.sqrt(2 * 0.125**2))  # |0.25 - 0| / sqrt(2)


@pytest.mark.parametrize("case,needle", [
    ("missing", "no such run folder"),
    ("empty_dir", "no metrics.json in this folder or in its test/ folder"),
    ("no_auc", "missing or non-numeric figure(s) ['AUC']"),
    ("not_metrics", "neither 'ACER'"),
    ("not_json", "not valid JSON"),
    ("mixed", "mixed kinds of metrics file"),
    ("one_run", "needs more than 1 runs"),
    ("twice", "given more than once"),
])
def test_runs_errors_are_one_line_exit_2(tmp_path, capsys, case, needle):
    a = str(_json(tmp_path / "a.json", RUN_A))
    b = tmp_path / "b.json"
    if case == "empty_dir":
        (tmp_path / "empty").mkdir()
    contents = {
        "no_auc": json.dumps({k: v for k, v in RUN_B.items() if k != "AUC"}),
        "not_metrics": json.dumps({"loss": 0.3}),
        "not_json": "1_1_01_1 0.5 1\n",
        "mixed": json.dumps({"folds": [], "mean_std": {k: {"mean": v} for k, v in RUN_B.items()}}),
    }
    if case in contents:
        b.write_text(contents[case])
    others = {"missing": [str(tmp_path / "nope")], "empty_dir": [str(tmp_path / "empty")], "one_run": [],
              "twice": [a]}
    bad = [a, *others.get(case, [str(b)])]
    assert evaluate.main(["--runs", *bad]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and err.count("\n") == 0, err


def test_runs_excludes_other_modes(tmp_path):
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--runs", str(tmp_path), "--fold", "a", "b"])
    assert e.value.code == 2


# ----------------------------------------------------------------------------- demo results table
def test_results_table_shows_intervals_beside_figures(tmp_path):
    with_ci = _json(tmp_path / "a" / "metrics.json", {
        "APCER": 0.375, "APCER_pooled": 0.25, "BPCER": 0.125, "ACER": 0.25, "EER_test": 0.1875, "AUC": 0.875,
        "ACER_ci": [0.125, 0.4375], "AUC_ci": [0.625, 1.0], "APCER_ci": [0.0, 0.75],
        "bootstrap": {"level": 0.95, "resamples": 1000, "seed": 0, "threshold_treatment": "kept"}})
    without_ci = _json(tmp_path / "b" / "metrics.json", {"APCER": 0.5, "APCER_pooled": 0.5, "BPCER": 0.0,
                                                          "ACER": 0.25, "EER_test": 0.25, "AUC": 0.75})
    r = subprocess.run([sys.executable, "scripts/results_table.py", f"with={with_ci}", f"without={without_ci}",
                        f"absent={tmp_path / 'c.json'}"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "| run | APCER (%) | APCER_pooled (%) | BPCER (%) | ACER (%) | EER_test (%) | AUC |"
    assert lines[2] == ("| with | 37.50 [0.0, 75.0] | 25.00 | 12.50 | 25.00 [12.5, 43.8] | 18.75 | "
                        "0.8750 [0.625, 1.000] |")
    assert lines[3] == "| without | 50.00 | 50.00 | 0.00 | 25.00 | 25.00 | 0.7500 |"
    assert lines[4] == "| absent |" + " (not run) |" * 6
    assert "95% percentile bootstrap interval, 1000 resamples (seed 0)" in r.stdout
