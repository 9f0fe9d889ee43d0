"""Score files, the evaluation command and the test report (spec: docs/metrics.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fas_core import evaluate, report, scores

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# The hand-worked split of tests/test_metrics.py with OULU names (file code -> species):
# dev threshold 0.6; test APCER 1/2 (print), APCER_pooled 1/4, BPCER 1/2, ACER 1/2, HTER 3/8.
DEV_LINES = ["1_1_21_1 0.9 1", "1_1_22_1 0.8 1", "1_1_23_1 0.7 1", "1_1_24_1 0.3 1",
             "1_1_21_2 0.6 0", "1_1_22_3 0.2 0", "1_1_21_4 0.4 0", "1_1_22_5 0.1 0"]
TEST_LINES = ["1_3_36_1 0.95 1", "1_3_37_1 0.65 1", "1_3_38_1 0.55 1", "1_3_39_1 0.5 1",
              "1_3_36_2 0.6 0", "1_3_37_3 0.1 0", "1_3_36_4 0.3 0", "1_3_37_5 0.2 0"]
REQUIRED_KEYS = {"threshold", "APCER", "APCER_pooled", "APCER_per_species", "BPCER", "ACER", "HTER", "EER_dev",
                 "EER_test", "AUC", "HTER_at_test_EER_threshold", "TPR@FPR=1e-2", "TPR@FPR=1e-3", "TPR@FPR=1e-4",
                 "BPCER20", "counts"}


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _check_hand_values(m: dict) -> None:
    assert REQUIRED_KEYS <= set(m)
    assert m["threshold"] == 0.6
    assert m["APCER_per_species"] == {"print": 0.5, "replay": 0.0}
    assert (m["APCER"], m["APCER_pooled"], m["BPCER"], m["ACER"], m["HTER"]) == (0.5, 0.25, 0.5, 0.5, 0.375)
    assert (m["EER_dev"], m["EER_test"], m["AUC"]) == (0.25, 0.25, 0.875)


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


# ----------------------------------------------------------------------------- species, score files
@pytest.mark.parametrize("name,label,expected", [
    ("1_1_01_1", 1, "live"), ("1_1_01_2", 0, "print"), ("6_3_55_3", 0, "print"),
    ("2_2_40_4", 0, "replay"), ("2_2_40_5", 0, "replay"), ("Test_files/1_1_36_5.avi", 0, "replay"),
    ("casia_video_7", 0, "attack"), ("casia_video_7", 1, "live"), ("1_1_01_9", 0, "attack"),
])
def test_species_from_name_or_label(name, label, expected):
    assert scores.resolve_species(name, label) == expected


def test_species_contradictions_are_errors():
    with pytest.raises(ValueError, match="file code"):
        scores.resolve_species("1_1_01_1", 0)
    with pytest.raises(ValueError, match="contradicts"):
        scores.resolve_species("clip", 1, "print")
    assert scores.resolve_species("1_1_01_2", 0, "printer1") == "printer1"  # explicit column wins


def test_score_file_round_trip_keeps_names_as_strings(tmp_path):
    rows = [("1_1_01_1", 0.1 + 0.2, 1, None), ("0012", 1e-7, 0, None), ("1_1_01_4", -3.25, 0, None),
            ("007", 2.0, 1, "live"), ("x_y", 0.5, 0, "mask")]
    written = scores.write_scores(tmp_path / "s.txt", rows)
    text = (tmp_path / "s.txt").read_text().splitlines()
    assert text[0].split()[0] == "1_1_01_1" and text[1].split()[0] == "0012" and text[3].startswith("007 ")
    back = scores.read_scores(tmp_path / "s.txt")
    assert back.names == ["1_1_01_1", "0012", "1_1_01_4", "007", "x_y"]
    assert back.scores.tolist() == [0.1 + 0.2, 1e-7, -3.25, 2.0, 0.5]  # exact floats
    assert back.labels.tolist() == [1, 0, 0, 1, 0]
    assert back.species == ["live", "attack", "replay", "live", "mask"] == written.species


def test_three_column_file_derives_species(tmp_path):
    s = scores.read_scores(_write(tmp_path / "dev.txt", ["# comment", "", *DEV_LINES]))
    assert len(s) == 8
    assert s.species == ["live"] * 4 + ["print", "print", "replay", "replay"]


@pytest.mark.parametrize("bad,why", [
    ("1_1_01_2 0.5", "got 2 fields"),
    ("1_1_01_2 high 0", "not a number"),
    ("1_1_01_2 0.5 2", "label must be"),
    ("1_1_01_2 nan 0", "not finite"),
    ("1_1_01_2 0.5 1", "contradicts"),
    ("1_1_21_1 0.5 1", "appears twice"),
    ("1_1_01_2 0.5 0 live", "contradicts"),
])
def test_malformed_line_names_file_and_line(tmp_path, bad, why):
    path = _write(tmp_path / "bad.txt", [DEV_LINES[0], DEV_LINES[1], bad])
    with pytest.raises(scores.ScoreFileError) as e:
        scores.read_scores(path)
    assert f"{path}:3:" in str(e.value) and why in str(e.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        scores.read_scores(tmp_path / "nope.txt")
    with pytest.raises(scores.ScoreFileError, match="no score lines"):
        scores.read_scores(_write(tmp_path / "empty.txt", ["# nothing"]))


def test_frame_scores_round_trip_and_average(tmp_path):
    rows = [("1_1_01_1", 1, 0.25, 1), ("1_1_01_1", 2, 0.75, 1), ("1_1_01_2", 1, 0.125, 0)]
    assert scores.write_frame_scores(tmp_path / "f.txt", rows) == 3
    assert (tmp_path / "f.txt").read_text().splitlines()[1] == "1_1_01_1 2 0.75 1"
    back = scores.read_frame_scores(tmp_path / "f.txt")
    assert back == rows
    assert scores.video_scores_from_frames(back) == [("1_1_01_1", 0.5, 1, None), ("1_1_01_2", 0.125, 0, None)]
    _write(tmp_path / "g.txt", ["1_1_01_1 x 0.5 1"])
    with pytest.raises(scores.ScoreFileError, match=r"g.txt:1: frame index"):
        scores.read_frame_scores(tmp_path / "g.txt")


# ----------------------------------------------------------------------------- evaluation command
def _table_line(stdout: str, label: str) -> str:
    return next(ln for ln in stdout.splitlines() if ln.startswith(label))


def test_cli_end_to_end(tmp_path):
    dev = _write(tmp_path / "dev.txt", DEV_LINES)
    test = _write(tmp_path / "test.txt", TEST_LINES)
    out_json, plot_dir = tmp_path / "m.json", tmp_path / "plots"
    r = subprocess.run([sys.executable, "-m", "fas_core.evaluate", str(dev), str(test), "--json", str(out_json),
                        "--plots", str(plot_dir), "--resamples", "500", "--seed", "2"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "APCER_pooled" in r.stdout and "dev EER" in r.stdout and "0.6" in r.stdout
    m = json.loads(out_json.read_text())
    _check_hand_values(m)
    assert m["files"] == {"dev": str(dev), "test": str(test)}
    for name in ("roc.png", "det.png", "hist.png"):
        assert _is_png(plot_dir / name), name
    # every interval is in the JSON with its settings, and the printed table shows the same numbers
    b = m["bootstrap"]
    assert (b["resamples"], b["seed"], b["level"], b["threshold"], b["method"]) == (500, 2, 0.95, "dev_resampled",
                                                                                   "percentile")
    assert "95% CI" in r.stdout and "500 resamples (seed 2)" in r.stdout
    for key, label in (("APCER", "APCER (worst"), ("BPCER", "BPCER"), ("ACER", "ACER"), ("HTER", "HTER ="),
                       ("EER_test", "EER_test"), ("EER_dev", "EER_dev")):
        lo, hi = m[f"{key}_ci"]
        assert 0.0 <= lo <= hi <= 1.0
        assert f"[{100 * lo:.2f}, {100 * hi:.2f}]" in _table_line(r.stdout, label), key
    lo, hi = m["AUC_ci"]
    assert f"[{lo:.4f}, {hi:.4f}]" in _table_line(r.stdout, "AUC")
    assert set(m["APCER_per_species_ci"]) == {"print", "replay"}


def test_cli_separated_scores_give_zero_width_intervals(tmp_path, capsys):
    # dev live 0.7-0.9 above every attack: every dev-resample threshold is in 0.7..0.9, where all
    # test videos are classified right
    dev = _write(tmp_path / "dev.txt", ["1_1_21_1 0.9 1", "1_1_22_1 0.7 1", "1_1_21_2 0.2 0", "1_1_21_4 0.3 0"])
    test = _write(tmp_path / "test.txt", ["1_3_36_1 0.95 1", "1_3_37_1 0.91 1", "1_3_36_2 0.1 0",
                                          "1_3_37_3 0.5 0", "1_3_36_4 0.6 0", "1_3_37_5 0.0 0"])
    assert evaluate.main([str(dev), str(test), "--json", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "1000 resamples (seed 0)" in out  # the defaults
    assert "0.00%  [0.00, 0.00]" in _table_line(out, "ACER")
    assert "1.0000  [1.0000, 1.0000]" in _table_line(out, "AUC")
    m = json.loads((tmp_path / "m.json").read_text())
    for key in ("APCER", "APCER_pooled", "BPCER", "ACER", "HTER", "EER_test"):
        assert m[f"{key}_ci"] == [0.0, 0.0], key
    assert m["AUC_ci"] == [1.0, 1.0]


def test_cli_without_intervals_and_bad_settings(tmp_path, capsys):
    dev = _write(tmp_path / "dev.txt", DEV_LINES)
    test = _write(tmp_path / "test.txt", TEST_LINES)
    assert evaluate.main([str(dev), str(test), "--resamples", "0", "--json", str(tmp_path / "m.json")]) == 0
    assert "no confidence intervals" in capsys.readouterr().out
    m = json.loads((tmp_path / "m.json").read_text())
    _check_hand_values(m)
    assert "bootstrap" not in m and not [k for k in m if k.endswith("_ci")]
    assert evaluate.main([str(dev), str(test), "--level", "95"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "level" in err and "95" in err


def test_cli_folds_mean_std(tmp_path, capsys):
    dev = _write(tmp_path / "dev.txt", DEV_LINES)
    test1 = _write(tmp_path / "test1.txt", TEST_LINES)
    # fold 2: the live 0.55 and 0.5 moved above the threshold -> BPCER 0, ACER 1/4
    test2 = _write(tmp_path / "test2.txt", [ln.replace(" 0.55 ", " 0.75 ").replace(" 0.5 ", " 0.7 ")
                                           for ln in TEST_LINES])
    out_json = tmp_path / "folds.json"
    rc = evaluate.main(["--fold", str(dev), str(test1), "--fold", str(dev), str(test2), "--json", str(out_json)])
    assert rc == 0
    assert "mean" in capsys.readouterr().out
    res = json.loads(out_json.read_text())
    assert [f["BPCER"] for f in res["folds"]] == [0.5, 0.0]
    ms = res["mean_std"]
    assert ms["folds"] == 2
    assert ms["APCER"]["mean"] == 0.5 and ms["APCER"]["std"] == 0.0
    assert ms["BPCER"]["mean"] == 0.25 and ms["BPCER"]["std"] == pytest.approx(np.std([0.5, 0.0], ddof=1))
    assert ms["ACER"]["mean"] == pytest.approx(0.375)


def test_cli_errors_and_help(tmp_path, capsys):
    dev = _write(tmp_path / "dev.txt", DEV_LINES)
    bad = _write(tmp_path / "bad.txt", [TEST_LINES[0], "1_3_37_1 0.65"])
    assert evaluate.main([str(dev), str(bad)]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--help"])
    assert e.value.code == 0
    assert "dev EER" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        evaluate.main([str(dev)])  # test file missing


def test_evaluate_files_api(tmp_path):
    dev = _write(tmp_path / "dev.txt", DEV_LINES)
    test = _write(tmp_path / "test.txt", TEST_LINES)
    m = evaluate.evaluate_files(dev, test, json_out=tmp_path / "m.json")
    _check_hand_values(m)
    assert json.loads((tmp_path / "m.json").read_text())["ACER"] == 0.5


# ----------------------------------------------------------------------------- test report
def _rows(lines):
    out = []
    for ln in lines:
        name, s, lab = ln.split()
        out.append((name, float(s), int(lab), None))
    return out


def test_write_test_report(tmp_path):
    out = tmp_path / "report"
    depth = [(np.linspace(0, 1, 32 * 32).reshape(32, 32), "1_3_36_1 live"), (np.zeros((1, 32, 32)), "1_3_36_2 print")]
    frames = [("1_3_36_1", 1, 0.9, 1), ("1_3_36_1", 2, 1.0, 1)]
    card = {"method": "CDCN++ + DUM", "data": "synthetic OULU-NPU (demo)", "protocol": "1",
            "config": {"lr": 1e-4, "epochs": 2}, "command": "python -m dum.test --config x.yaml"}
    m = report.write_test_report(out, _rows(DEV_LINES), _rows(TEST_LINES), frame_scores=frames,
                                 depth_samples=depth, model_card=card)
    _check_hand_values(m)
    for name in ("roc.png", "det.png", "hist.png", "depth_grid.png"):
        assert _is_png(out / name), name
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(m))
    back = scores.read_scores(out / "test_scores.txt")
    assert back.names == [ln.split()[0] for ln in TEST_LINES]
    assert back.species[4:] == ["print", "print", "replay", "replay"]
    assert scores.read_frame_scores(out / "frame_scores.txt") == frames
    card_text = (out / "model_card.md").read_text()
    lo, hi = m["ACER_ci"]
    for needle in ("# Model card: CDCN++ + DUM", "synthetic OULU-NPU (demo)", "`lr`: `0.0001`", "threshold: `0.6`",
                   "| APCER (worst attack species) | 50.00% | [", "| figure | value | 95% CI | threshold |",
                   f"| ACER = (APCER + BPCER)/2 | 50.00% | [{100 * lo:.2f}, {100 * hi:.2f}] | dev EER |",
                   "1000 resamples (seed 0)", "python -m dum.test --config x.yaml"):
        assert needle in card_text, needle
    assert m["bootstrap"]["resamples"] == 1000 and m["bootstrap"]["threshold"] == "dev_resampled"


def test_write_test_report_without_intervals(tmp_path):
    m = report.write_test_report(tmp_path, _rows(DEV_LINES), _rows(TEST_LINES), bootstrap=None)
    _check_hand_values(m)
    assert not [k for k in m if k.endswith("_ci")]
    card_text = (tmp_path / "model_card.md").read_text()
    assert "| ACER = (APCER + BPCER)/2 | 50.00% |  | dev EER |" in card_text
    assert "no confidence intervals" in card_text


def test_report_rejects_inconsistent_rows(tmp_path):
    rows = _rows(DEV_LINES)
    rows[0] = ("1_1_21_1", 0.9, 0, None)  # live file code, attack label
    with pytest.raises(ValueError, match="dev scores, row 1"):
        report.write_test_report(tmp_path, rows, _rows(TEST_LINES))
