"""Frame extraction: numbering, --every / --max-frames, bad videos counted, resume, CLI errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from data.extract_frames import extract_frames, find_videos
from fas_core import fileio

ROOT = Path(__file__).resolve().parents[1]
GREYS = [20 * i + 10 for i in range(10)]  # frame i is a flat grey of this level


def write_video(path: Path, n: int = 10, size: tuple[int, int] = (64, 48)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    assert vw.isOpened()
    for i in range(n):
        vw.write(np.full((size[1], size[0], 3), GREYS[i], np.uint8))
    vw.release()


@pytest.fixture()
def videos(tmp_path) -> Path:
    root = tmp_path / "videos"
    write_video(root / "Train_files" / "1_1_01_1.avi")
    write_video(root / "Dev_files" / "1_1_21_2.avi", n=4)
    (root / "Test_files").mkdir()
    (root / "Test_files" / "1_1_36_1.avi").write_bytes(b"")  # empty file
    (root / "Test_files" / "1_1_36_2.avi").write_bytes(np.random.default_rng(0).bytes(5000))  # garbage
    return root


def source_index(out: Path, video: str, idx: int) -> int:
    """Which source frame a written frame shows (nearest grey level; MJPEG/JPEG shift levels slightly)."""
    grey = float(fileio.read_image(fileio.frame_path(out, video, idx)).mean())
    return int(np.argmin([abs(grey - g) for g in GREYS]))


def test_every_frame_numbered_from_one(videos, tmp_path):
    out = tmp_path / "frames"
    summary = extract_frames(videos, out)
    assert fileio.list_frame_indices(out / "1_1_01_1", "1_1_01_1") == list(range(1, 11))
    assert (out / "1_1_01_1" / "1_1_01_1_010_scene.jpg").is_file()
    assert [source_index(out, "1_1_01_1", i) for i in (1, 5, 10)] == [0, 4, 9]
    assert fileio.list_frame_indices(out / "1_1_21_2", "1_1_21_2") == [1, 2, 3, 4]
    assert summary["videos"] == 4 and summary["frames"] == 14
    assert summary["failures"] == {"corrupt_video": 1, "empty_video": 1}
    assert summary["failed_videos"] == {"corrupt_video": ["1_1_36_2"], "empty_video": ["1_1_36_1"]}
    assert fileio.read_json(out / "summary.json")["frames"] == 14
    assert fileio.is_done(out / "1_1_01_1") and not fileio.is_done(out / "1_1_36_1")
    # resume: finished videos are skipped, the bad ones are tried again and counted again
    again = extract_frames(videos, out, workers=2)
    assert again["videos_skipped_already_done"] == 2 and again["videos_processed_now"] == 2
    assert again["failures"] == {"corrupt_video": 1, "empty_video": 1}


def test_every_k_and_max_frames(videos, tmp_path):
    out = tmp_path / "frames"
    extract_frames(videos / "Train_files", out, every=3)
    # source frames 0, 3, 6, 9 written as 001..004
    assert fileio.list_frame_indices(out / "1_1_01_1", "1_1_01_1") == [1, 2, 3, 4]
    assert [source_index(out, "1_1_01_1", i) for i in (1, 2, 3, 4)] == [0, 3, 6, 9]
    out2 = tmp_path / "frames2"
    s = extract_frames(videos / "Train_files", out2, every=2, max_frames=3)
    assert fileio.list_frame_indices(out2 / "1_1_01_1", "1_1_01_1") == [1, 2, 3] and s["frames"] == 3
    assert source_index(out2, "1_1_01_1", 3) == 4


def test_parallel_equals_serial(videos, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    extract_frames(videos, a, workers=1)
    extract_frames(videos, b, workers=2)
    files = sorted(p.relative_to(a) for p in a.rglob("*.jpg"))
    assert len(files) == 14
    assert files == sorted(p.relative_to(b) for p in b.rglob("*.jpg"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="video folder not found"):
        find_videos(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    r = subprocess.run([sys.executable, "-m", "data.extract_frames", "--videos", str(tmp_path / "empty"),
                        "--out", str(tmp_path / "f")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "no video files" in r.stderr
    r = subprocess.run([sys.executable, "-m", "data.extract_frames", "--videos", str(tmp_path / "absent"),
                        "--out", str(tmp_path / "f")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "video folder not found" in r.stderr
    with pytest.raises(ValueError, match="--every"):
        extract_frames(tmp_path / "empty", tmp_path / "f", every=0)


def test_truncated_video_keeps_frames_and_is_counted(tmp_path):
    src = tmp_path / "v" / "2_2_02_4.avi"
    src.parent.mkdir()
    vw = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(40):  # noise frames: large JPEGs, so cutting the file in half loses about 20 of them
        vw.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    vw.release()
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    s = extract_frames(src.parent, tmp_path / "f")
    assert s["failures"] == {"truncated_video": 1}
    assert 10 <= s["frames"] < 36 and "of 40 announced frames" in s["messages"][0]
    assert len(fileio.list_frame_indices(tmp_path / "f" / "2_2_02_4", "2_2_02_4")) == s["frames"]


def test_preprocess_plan_and_skips(videos, tmp_path, capsys):
    """The config-driven chain: commands built from the config, finished stages recognised."""
    from data import preprocess

    work = tmp_path / "work"
    base = [f"oulu_root={videos}", f"work_root={work}"]
    assert preprocess.main(["--config", str(ROOT / "data/configs/demo.yaml"), "--dry-run", *base,
                            "frames.max_frames=5", "detect.batch_size=8", "crop.size=128"]) == 0
    out = capsys.readouterr().out
    assert "synth: complete, skipped" in out  # videos/ holds Train_files etc.
    assert f"data.extract_frames --videos {videos} --out {work / 'frames'} --every 1 --workers 2 --max-frames 5" in out
    assert f"data.detect_faces --frames {work / 'frames'} --workers 2 --batch-size 8" in out
    assert "--size 128 --depth-size 32" in out and f"--videos {videos} --out {work / 'lists'}" in out
    assert preprocess.main([*base, "crop.sise=1"]) == 2
    assert "unknown config key 'crop.sise'" in capsys.readouterr().err
    assert preprocess.main([f"oulu_root={tmp_path / 'none'}", "synth.enabled=false"]) == 2
    assert "no OULU-NPU dataset" in capsys.readouterr().err
    # after extraction of every readable video, extract_frames is complete only if all videos are done
    cfg = preprocess.load_config(preprocess.DEFAULTS, None, [f"oulu_root={videos / 'Train_files'}", *base[1:]])
    plan = {s.name: s for s in preprocess.build_plan(cfg)}
    assert not plan["extract_frames"].is_complete()
    extract_frames(videos / "Train_files", work / "frames")
    assert plan["extract_frames"].is_complete() and not plan["detect_faces"].is_complete()
    (work / "frames" / "1_1_01_1" / "faces.json").write_text("{}")
    assert plan["detect_faces"].is_complete() and not plan["crop"].is_complete()


def test_stage_completeness_lists_each_tree_once():
    from data.preprocess import complete_when

    calls = []

    def listing(name: str, videos: list[str]):
        def videos_of() -> list[str]:
            calls.append(name)
            return videos
        return videos_of

    assert complete_when(listing("needed", ["a", "b"]), listing("present", ["b", "a", "c"]))()
    assert calls == ["needed", "present"]
    assert not complete_when(listing("needed", ["a", "d"]), listing("present", ["a"]))()
    calls.clear()
    assert not complete_when(listing("needed", []), listing("present", ["a"]))()  # nothing to do is not complete
    assert calls == ["needed"]
