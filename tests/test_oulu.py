"""OULU-NPU names, protocol rules (docs/data.md table), list IO and the make_lists CLI."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from data.make_lists import find_video_names, make_oulu_lists
from fas_core import oulu

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def oulu_tree(tmp_path_factory) -> Path:
    """A folder of EMPTY files named like all 4950 OULU-NPU videos, in the release layout."""
    root = tmp_path_factory.mktemp("oulu")
    for name in oulu.all_video_names():
        folder = root / oulu.folder_of(name)
        folder.mkdir(exist_ok=True)
        (folder / f"{name}.avi").touch()
    return root


def species_counts(path: Path) -> Counter:
    return Counter(oulu.species_of(v) for v, _ in oulu.read_list(path))


def test_parse_and_species():
    n = oulu.parse_video_name("6_3_55_5.avi")
    assert n == oulu.OuluName("6", "3", "55", "5") and n.user == "55" and n.name == "6_3_55_5"
    assert oulu.parse_video_name("1_2_03_4").user == "03"  # user keeps its two digits
    assert [oulu.species_of(f"1_1_01_{f}") for f in range(1, 6)] == ["live", "print", "print", "replay", "replay"]
    assert [oulu.official_label(f"1_1_01_{f}") for f in range(1, 6)] == [1, -1, -1, -2, -2]
    assert oulu.folder_of("1_1_20_1") == "Train_files" and oulu.folder_of("1_1_21_1") == "Dev_files"
    assert oulu.folder_of("1_1_35_1") == "Dev_files" and oulu.folder_of("1_1_36_1") == "Test_files"
    for bad in ("1_1_1_1", "7_1_01_1", "1_4_01_1", "1_1_56_1", "1_1_01_6", "1_1_00_1", "abc"):
        with pytest.raises(ValueError):
            oulu.parse_video_name(bad)
    assert len(oulu.all_video_names()) == 4950


def test_protocol_counts_match_data_md():
    names = oulu.all_video_names()
    expected = {"1": (1200, 900, 600), "2": (1080, 810, 1080)}
    expected.update({f"3_{k}": (1500, 1125, 300) for k in oulu.FOLDS})
    expected.update({f"4_{k}": (600, 450, 60) for k in oulu.FOLDS})
    for p, counts in expected.items():
        assert tuple(len(oulu.protocol_split(names, p, s)) for s in oulu.SPLITS) == counts, p
    train1 = oulu.protocol_split(names, "1", "train")
    assert Counter(oulu.species_of(v) for v in train1)["live"] == 240
    test1 = Counter(oulu.species_of(v) for v in oulu.protocol_split(names, "1", "test"))
    assert test1 == {"live": 120, "print": 240, "replay": 240}


def test_protocol_rules():
    names = oulu.all_video_names()
    ints = lambda p, s: [oulu.parse_video_name(v).ints() for v in oulu.protocol_split(names, p, s)]  # noqa: E731
    # users by split, for every protocol
    for p in oulu.PROTOCOLS:
        assert {u for _, _, u, _ in ints(p, "train")} == set(range(1, 21))
        assert {u for _, _, u, _ in ints(p, "dev")} == set(range(21, 36))
        assert {u for _, _, u, _ in ints(p, "test")} == set(range(36, 56))
    assert {s for _, s, _, _ in ints("1", "dev")} == {1, 2} and {s for _, s, _, _ in ints("1", "test")} == {3}
    assert {f for *_, f in ints("2", "train")} == {1, 2, 4} and {f for *_, f in ints("2", "test")} == {1, 3, 5}
    assert {p for p, *_ in ints("3_2", "train")} == {1, 3, 4, 5, 6} and {p for p, *_ in ints("3_2", "test")} == {2}
    test45 = set(ints("4_5", "test"))
    assert {(p, s, f) for p, s, _, f in test45} == {(5, 3, 1), (5, 3, 3), (5, 3, 5)}
    dev45 = ints("4_5", "dev")
    assert {p for p, *_ in dev45} == {1, 2, 3, 4, 6} and {s for _, s, _, _ in dev45} == {1, 2}
    assert oulu.expand_protocol("3") == [f"3_{k}" for k in range(1, 7)]
    with pytest.raises(ValueError, match="unknown OULU-NPU protocol"):
        oulu.protocol_split(names, "5", "train")
    with pytest.raises(ValueError, match="unknown split"):
        oulu.protocol_split(names, "1", "val")


def test_list_io_roundtrip(tmp_path):
    path = tmp_path / "Test.txt"
    oulu.write_list(path, ["1_1_36_1", ("1_1_36_2", 0), ("1_1_36_5", 0)])
    assert path.read_text() == "+1,1_1_36_1\n-1,1_1_36_2\n-2,1_1_36_5\n"
    assert oulu.read_list(path) == [("1_1_36_1", 1), ("1_1_36_2", 0), ("1_1_36_5", 0)]
    # species come from the file code: a -1 label on a replay video still reads as an attack
    path.write_text("+1,1_1_01_1\n\n-1,1_1_01_4\n-2,2_3_40_3\n")
    rows = oulu.read_list(path)
    assert rows == [("1_1_01_1", 1), ("1_1_01_4", 0), ("2_3_40_3", 0)]
    assert [oulu.species_of(v) for v, _ in rows] == ["live", "replay", "print"]
    path.write_text("+1,1_1_01_1\nnot a line\n")
    with pytest.raises(ValueError, match=r"Test\.txt:2"):
        oulu.read_list(path)
    path.write_text("+1,1_1_01_2\n")
    with pytest.raises(ValueError, match="contradicts"):
        oulu.read_list(path)
    with pytest.raises(ValueError, match="labelled live"):
        oulu.write_list(path, [("1_1_01_3", 1)])
    with pytest.raises(FileNotFoundError, match="list file not found"):
        oulu.read_list(tmp_path / "nope.txt")


def test_check_missing():
    listed = [("1_1_21_1", 1), ("1_1_22_3", 0), ("1_1_23_1", 1)]
    available = ["1_1_21_1", "1_1_23_1.avi"]
    with pytest.raises(oulu.MissingVideosError, match=r"1 of 3 videos .* missing: 1_1_22_3"):
        oulu.check_missing(listed, available, allow_missing=False)
    with pytest.warns(UserWarning, match="1_1_22_3"):
        assert oulu.check_missing(listed, available, allow_missing=True) == ["1_1_22_3"]
    assert oulu.check_missing(listed, available + ["1_1_22_3"], allow_missing=False) == []


def test_write_all_protocols(tmp_path):
    oulu.write_all_protocols(oulu.all_video_names(), tmp_path)
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.txt"))
    assert len(files) == 2 * 3 + 2 * 18
    assert "Protocol_3/Train_6.txt" in files and "Protocol_4/Test_1.txt" in files and "Protocol_2/Dev.txt" in files
    assert len(oulu.read_list(tmp_path / "Protocol_4/Test_3.txt")) == 60
    assert species_counts(tmp_path / "Protocol_1/Test.txt") == {"live": 120, "print": 240, "replay": 240}
    first = (tmp_path / "Protocol_1/Train.txt").read_text().splitlines()[:6]
    assert first == ["+1,1_1_01_1", "-1,1_1_01_2", "-1,1_1_01_3", "-2,1_1_01_4", "-2,1_1_01_5", "+1,1_1_02_1"]


def test_make_lists_on_4950_empty_files(oulu_tree, tmp_path):
    names, ignored = find_video_names(oulu_tree)
    assert len(names) == 4950 and ignored == []
    summary = make_oulu_lists(oulu_tree, tmp_path, "all")
    lines = {k: v["lines"] for k, v in summary["lists"].items()}
    per = lambda p, fold="": tuple(lines[f"Protocol_{p}/{s}{fold}.txt"] for s in ("Train", "Dev", "Test"))  # noqa: E731
    assert per(1) == (1200, 900, 600) and per(2) == (1080, 810, 1080)
    assert summary["lists"]["Protocol_1/Train.txt"]["live"] == 240
    for k in oulu.FOLDS:
        assert per(3, f"_{k}") == (1500, 1125, 300) and per(4, f"_{k}") == (600, 450, 60)
    assert species_counts(tmp_path / "Protocol_1/Test.txt") == {"live": 120, "print": 240, "replay": 240}
    assert (tmp_path / "summary.json").is_file()


def test_make_lists_cli(tmp_path):
    # frame folders count as videos; a non-OULU video is ignored; a missing folder is a clear error
    frames = tmp_path / "frames"
    for name in ("1_1_01_1", "1_1_01_2", "1_3_40_1", "2_3_40_5"):
        (frames / name).mkdir(parents=True)
        (frames / name / f"{name}_001_scene.jpg").touch()
    (frames / "holiday.mp4").touch()
    out = tmp_path / "lists"
    cmd = [sys.executable, "-m", "data.make_lists", "oulu", "--protocol", "4", "--videos", str(frames),
           "--out", str(out)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "1 non-OULU names ignored" in r.stdout
    assert (out / "Protocol_4/Train_3.txt").read_text() == "+1,1_1_01_1\n-1,1_1_01_2\n"
    assert (out / "Protocol_4/Test_1.txt").read_text() == "+1,1_3_40_1\n"
    assert (out / "Protocol_4/Test_2.txt").read_text() == "-2,2_3_40_5\n"
    assert not (out / "Protocol_1").exists()
    r = subprocess.run(cmd[:-3] + [str(tmp_path / "absent"), "--out", str(out)], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 2 and "video folder not found" in r.stderr
