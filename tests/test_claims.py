"""The claims study: its verdict rule, the paired comparison, the table, and the driver end to end."""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from fas_core import compare, fileio
from fas_core.bootstrap import BootstrapSettings
from fas_core.scores import ScoreSet
from scripts import claims

SPECIES = ["live", "live", "print", "print", "replay", "replay"]
LABELS = np.array([1, 1, 0, 0, 0, 0])
NAMES = ["1_1_36_1", "1_2_36_1", "1_1_36_2", "1_2_36_2", "1_1_36_4", "1_2_36_4"]


def score_set(scores: Sequence[float]) -> ScoreSet:
    return ScoreSet(list(NAMES), np.array(scores, dtype=np.float64), LABELS.copy(), list(SPECIES))


def run(scores: Sequence[float], source: str) -> compare.RunScores:
    """A run whose dev and test splits hold the same videos and scores."""
    return compare.RunScores(score_set(scores), score_set(scores), source)


# Both live videos at 0.9, every attack below: any dev resample puts the EER threshold at 0.9 (the
# highest of the tied candidates), which every test resample passes without error: ACER 0, AUC 1.
PERFECT = [0.9, 0.9, 0.2, 0.1, 0.2, 0.1]
CONSTANT = [0.5] * 6  # threshold 0.5 accepts everything: APCER 1, BPCER 0, ACER 0.5; AUC 0.5


# ----------------------------------------------------------------------------- the verdict rule
@pytest.mark.parametrize("gains, ci, expected", [
    ([0.125, 0.0625, 0.25], [0.02, 0.30], compare.HOLDS),  # interval above 0, every seed favours A
    ([0.125, 0.0, 0.25], [0.01, 0.30], compare.HOLDS),  # a tie in one seed does not favour B
    ([0.125, -0.0625, 0.25], [0.01, 0.30], compare.INCONCLUSIVE),  # seed 1 favours B
    ([-0.125, -0.25, -0.0625], [-0.30, -0.02], compare.FAILS),  # B better everywhere
    ([0.125, 0.0625, 0.25], [-0.01, 0.30], compare.INCONCLUSIVE),  # interval reaches 0
    ([0.125, 0.0625, 0.25], [0.0, 0.30], compare.INCONCLUSIVE),  # touching 0 is not beyond the noise
    ([-0.125, 0.0625, -0.25], [-0.30, -0.01], compare.INCONCLUSIVE),  # seed 1 favours A
])
def test_verdict_rule(gains, ci, expected) -> None:
    assert compare.verdict(gains, ci) == expected


def test_perfect_against_constant_scores_holds_with_exact_figures() -> None:
    a = [run(PERFECT, f"a{s}") for s in range(3)]
    b = [run(CONSTANT, f"b{s}") for s in range(3)]
    out = compare.compare_arms(a, b, BootstrapSettings(resamples=200, seed=1))
    # every resample keeps both classes and every species, so A's ACER is 0 and B's 0.5 on each
    assert out["arms"]["A"]["ACER"] == {"values": [0.0, 0.0, 0.0], "mean": 0.0, "std": 0.0, "ci": [0.0, 0.0]}
    assert out["arms"]["B"]["ACER"]["values"] == [0.5, 0.5, 0.5]
    assert out["gain"]["ACER"] == {"per_seed": [0.5, 0.5, 0.5], "mean": 0.5, "ci": [0.5, 0.5]}
    assert out["gain"]["AUC"]["per_seed"] == [0.5, 0.5, 0.5]
    assert out["verdict"] == compare.HOLDS
    assert compare.compare_arms(b, a, BootstrapSettings(resamples=200))["verdict"] == compare.FAILS


def test_identical_arms_are_inconclusive() -> None:
    seed1 = [0.9, 0.1, 0.8, 0.05, 0.06, 0.07]
    a = [run(PERFECT, "a0"), run(seed1, "a1")]
    out = compare.compare_arms(a, [run(PERFECT, "b0"), run(seed1, "b1")], BootstrapSettings(resamples=100))
    assert out["gain"]["ACER"]["ci"] == [0.0, 0.0] and out["verdict"] == compare.INCONCLUSIVE
    # seed 1 by hand: |FAR - FRR| on counts is 2 at t = 0.8 (1 attack in, 1 live out) and at t = 0.1
    # (1 attack in, no live out); the lower FAR + FRR picks 0.1: BPCER 0, APCER[print] 1/2, ACER 0.25
    assert out["arms"]["A"]["ACER"]["values"] == [0.0, 0.25]
    assert out["arms"]["A"]["ACER"]["mean"] == 0.125
    assert out["arms"]["A"]["ACER"]["std"] == pytest.approx(np.sqrt(2 * 0.125**2))  # ddof 1 over 2 seeds


def test_runs_on_other_videos_are_refused() -> None:
    other = compare.RunScores(score_set(PERFECT), ScoreSet(["x"] + NAMES[1:], np.array(PERFECT), LABELS.copy(),
                                                           list(SPECIES)), "other")
    with pytest.raises(ValueError, match="other: its test videos differ"):
        compare.compare_arms([run(PERFECT, "a")], [other])


# ----------------------------------------------------------------------------- the table
def test_claim_table_and_markdown(tmp_path) -> None:
    arm = {"label": "multi", "wall_s": 61.6, "ACER": {"mean": 0.125, "std": 0.0625, "ci": [0.0, 0.25]},
           "AUC": {"mean": 0.9, "std": 0.05, "ci": [0.8, 1.0]}}
    other = {"label": "single", "wall_s": 30.2, "ACER": {"mean": 0.5, "std": 0.0, "ci": [0.5, 0.5]},
             "AUC": {"mean": 0.5, "std": 0.0, "ci": [0.5, 0.5]}}
    summary = {"claim": 1, "title": "T", "statement": "S", "seeds": 2, "arms": {"A": arm, "B": other},
               "gain": {"ACER": {"mean": 0.375, "ci": [0.25, 0.5], "per_seed": [0.3125, 0.4375]},
                        "AUC": {"mean": 0.4, "ci": [0.3, 0.5], "per_seed": [0.35, 0.45]}},
               "verdict": compare.HOLDS, "wall_s": 100.0, "budget": "B",
               "load_average": {"start": 3.5, "end": 4.0},
               "steps": [{"command": "python -m x.train", "wall_s": 12.3, "skipped": False}]}
    fileio.write_json(tmp_path / "1_x" / "summary.json", summary)
    text = claims.write_markdown(tmp_path).read_text()
    assert "| A: multi | 2 | 12.50 ± 6.25 [0.00, 25.00] | 0.900 ± 0.050 [0.800, 1.000] | 62 |" in text
    assert "| B: single | 2 | 50.00 ± 0.00 [50.00, 50.00] | 0.500 ± 0.000 [0.500, 0.500] | 30 |" in text
    assert "| gain of A over B | | +37.50 [+25.00, +50.00] (seeds: +31.25, +43.75) |" in text
    assert "**Verdict: holds**" in text and "`python -m x.train` (12 s)" in text


# ----------------------------------------------------------------------------- the driver end to end
def in_process(argv: Sequence[str]) -> int:
    """``python -m <module> ...`` in this process (one torch import for the whole study)."""
    assert argv[0] == "-m"
    saved = sys.argv
    sys.argv = [argv[1], *argv[2:]]
    try:
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    except SystemExit as e:
        return int(e.code or 0)
    finally:
        sys.argv = saved
    return 0


def test_driver_end_to_end_on_tiny_budgets(fake_work, tmp_path, monkeypatch, capsys) -> None:
    """Claims 1 (two training stages) and 4 (generator, generation, generated data): 2 seeds, 1-2 steps."""
    monkeypatch.setattr(claims, "execute", in_process)
    out = tmp_path / "claims"
    argv = ["--budget", "tiny", "--claims", "1,4", "--seeds", "2", "--out", str(out), "--work",
            str(fake_work["root"]), "--hard-work", str(fake_work["root"]), "--no-prepare", "--resamples", "50"]
    with pytest.warns(UserWarning, match="identity"):
        assert claims.main(argv) == 0
    printed = capsys.readouterr().out
    for key in ("1_sgtd_temporal", "4_dsdg_few_users"):
        summary = fileio.read_json(out / key / "summary.json")
        assert summary["seeds"] == 2 and summary["verdict"] in (compare.HOLDS, compare.FAILS, compare.INCONCLUSIVE)
        for tag in ("A", "B"):
            arm = summary["arms"][tag]
            assert len(arm["ACER"]["values"]) == 2 and all(Path(t, "test_scores.txt").is_file() for t in arm["tests"])
    # the multi-frame arm trains the single-frame run it starts from; the single-frame arm reuses it
    assert printed.count("train runs/sgtd_single_hard/seed1: python") == 1
    assert "train runs/sgtd_single_hard/seed1: complete" in printed
    assert (out / "4_dsdg" / "lists" / "Protocol_1" / "Train.txt").read_text().split() == [
        line for line in (fake_work["lists"] / "Train.txt").read_text().split() if "_01_" in line]
    table = (out / "claims.md").read_text()
    assert "## Claim 1" in table and "## Claim 4" in table and "python -m dsdg.generate" in table
    assert claims.main([*argv[:2], "--claims", "4", *argv[4:]]) == 0  # all finished: nothing runs again
    assert ": python -m" not in capsys.readouterr().out


def test_bad_options_give_one_line(capsys) -> None:
    assert claims.main(["--claims", "5"]) == 2
    assert "--claims: unknown claim(s) [5]" in capsys.readouterr().err
    assert claims.main(["--seeds", "1"]) == 2
    assert "--seeds: at least 2 seeds" in capsys.readouterr().err


# ----------------------------------------------------------------------------- budgets
def test_quick_budget_evaluates_once_and_scores_fewer_frames(tmp_path) -> None:
    ctx = claims.Context(out=tmp_path, budget=claims.BUDGETS["quick"], seeds=3, work=Path("w"),
                         hard_work=Path("h"), prepare=False, settings=BootstrapSettings())
    cdcn, vanilla = claims_by_number()[2].arm_a, claims_by_number()[2].arm_b
    for arm in (cdcn, vanilla):
        steps, _ = arm.runs(ctx, 1)
        train, test = (s.argv for s in steps)
        assert "train.max_iters=20" in train and "train.eval_every=20" in train and "train.eval_after=20" in train
        assert "test.frames_per_video=1" in test and "eval.frames_per_video=2" in test
    steps, _ = claims_by_number()[1].arm_a.runs(ctx, 0)  # single-frame train, multi-frame train and test
    assert [s.name.split()[0] for s in steps] == ["train", "train", "test"]
    assert "train.eval_every=120" in steps[0].argv and "train.eval_every=40" in steps[1].argv
    assert all("test.frames_per_video=2" in s.argv for s in steps)


def test_default_budget_keeps_three_evaluations_and_the_sgtd_configs_scoring(tmp_path) -> None:
    ctx = claims.Context(out=tmp_path, budget=claims.BUDGETS["default"], seeds=3, work=Path("w"),
                         hard_work=Path("h"), prepare=False, settings=BootstrapSettings())
    steps, _ = claims_by_number()[2].arm_a.runs(ctx, 0)
    assert "train.eval_every=23" in steps[0].argv and "test.frames_per_video=4" in steps[1].argv
    steps, _ = claims_by_number()[1].arm_a.runs(ctx, 0)
    assert "train.eval_every=116" in steps[0].argv and "train.eval_every=50" in steps[1].argv
    assert not any(a.startswith(("test.frames_per_video", "eval.frames_per_video")) for s in steps for a in s.argv)


def claims_by_number() -> dict[int, claims.Claim]:
    return {c.number: c for c in claims.claims_list()}
