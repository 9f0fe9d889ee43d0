"""The four cross-domain leave-one-out tasks on the full releases' names (docs/datasets.md, "MCIO")."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import release_trees as rt

from data.make_lists import make_mcio_lists, parse_roots
from fas_core import fileio, oulu
from fas_core.datasets import mcio
from fas_core.datasets.lists import read_list_species

ROOT = Path(__file__).resolve().parents[1]
# What each domain brings to a task (the literature's lists): (live, print, replay).
USED = {"O": (720, 1440, 1440), "C": (150, 300, 150), "I": (140, 140, 560), "M": (70, 70, 140)}
# Held-out source videos (Dev.txt): OULU-NPU's 15 dev users, Replay-Attack's devel split.
HELD_OUT = {"O": (270, 540, 540), "I": (60, 60, 240)}


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("mcio_data")
    trees = {"O": rt.oulu_names(), "C": rt.casia_names(), "I": rt.replay_attack_names(), "M": rt.msu_names()}
    return {d: str(rt.touch_all(base / d, names)) for d, names in trees.items()}


@pytest.fixture(scope="module")
def tasks(roots, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mcio_lists")
    make_mcio_lists("all", roots, out)
    return out


def by_domain(path: Path) -> dict[str, tuple[int, int, int]]:
    """(live, print, replay) per domain, read back from a list's ids and labels."""
    counts: dict[str, Counter] = {}
    for video, species in read_list_species(path).items():
        counts.setdefault(video.split("/", 1)[0], Counter())[species] += 1
    return {d: (c["live"], c["print"], c["replay"]) for d, c in counts.items()}


@pytest.mark.parametrize("target", ["M", "C", "I", "O"])
def test_task_lists_match_the_literature(tasks, target):
    folder = tasks / mcio.task_name(target)
    sources = mcio.SOURCES[target]
    assert by_domain(folder / "Train.txt") == {d: USED[d] for d in sources}
    assert by_domain(folder / "Test.txt") == {target: USED[target]}
    assert by_domain(folder / "Dev.txt") == {d: HELD_OUT[d] for d in sources if d in HELD_OUT}
    summary = fileio.read_json(folder / "summary.json")
    assert summary["task"] == "&".join(sources) + "->" + target
    assert summary["lists"]["Test.txt"]["lines"] == sum(USED[target])


def test_task_names_and_video_totals(tasks):
    assert sorted(p.name for p in tasks.iterdir()) == ["ICM_to_O", "OCI_to_M", "OCM_to_I", "OMI_to_C"]
    test_videos = {t: fileio.read_json(tasks / mcio.task_name(t) / "summary.json")["lists"]["Test.txt"]
                   for t in "OCIM"}
    assert {t: (c["live"], c["print"] + c["replay"]) for t, c in test_videos.items()} == {
        "O": (720, 2880), "C": (150, 450), "I": (140, 700), "M": (70, 210)}
    train = fileio.read_json(tasks / "OCI_to_M" / "summary.json")["lists"]["Train.txt"]
    assert train["lines"] == 3600 + 600 + 840 and train["domains"] == {"C": 600, "I": 840, "O": 3600}


def test_lines_carry_the_domain_and_read_with_the_list_reader(tasks):
    rows = oulu.read_list(tasks / "ICM_to_O" / "Test.txt")
    assert rows[:2] == [("O/1_1_01_1", 1), ("O/1_1_01_2", 0)]
    lines = (tasks / "OCI_to_M" / "Train.txt").read_text().splitlines()
    assert lines[0] == "+1,O/1_1_01_1"
    assert "+1,C/train_release/1/HR_1" in lines and "-2,I/test/attack/hand/attack_highdef_client009_session01_" \
                                                     "highdef_video_adverse" in lines
    assert not any("enroll/" in line or "/devel/" in line for line in lines)
    assert mcio.split_task_video_id("C/train_release/1/HR_1") == ("C", "train_release/1/HR_1")
    assert mcio.work_path({"C": "/w/casia/frames"}, "C/train_release/1/HR_1") == Path(
        "/w/casia/frames/train_release/1/HR_1")


def test_cli_and_bad_roots(roots, tmp_path):
    args = [sys.executable, "-m", "data.make_lists", "mcio", "--target", "I", "--out", str(tmp_path / "l")]
    good = [a for d, r in roots.items() for a in ("--root", f"{d}={r}")]
    r = subprocess.run(args + good, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "O&C&M->I" in r.stdout and (tmp_path / "l" / "OCM_to_I" / "Test.txt").is_file()
    swapped = [a for d, r in roots.items() for a in ("--root", f"{d}={roots['I'] if d == 'C' else r}")]
    r = subprocess.run(args + swapped, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "--root C (CASIA-FASD)" in r.stderr and "looks like a Replay-Attack tree" in r.stderr
    with pytest.raises(ValueError, match="give --root M=DIR"):
        parse_roots([f"{d}={r}" for d, r in roots.items() if d != "M"])
    with pytest.raises(ValueError, match="expected D=DIR"):
        parse_roots(["X=/data"])
