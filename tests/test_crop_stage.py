"""Offline crop cache: hand-checked crop, failure counts, and kill-then-resume byte identity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from data.crop import crop_all
from fas_core import fileio

ROOT = Path(__file__).resolve().parents[1]
W, H = 160, 120


def make_work(root: Path, n_videos: int = 3, n_frames: int = 4, size: tuple[int, int] = (W, H)) -> tuple[Path, Path]:
    """Synthetic frames + boxes + faces.json + depth maps in the toolkit layout (no detector needed)."""
    frames, depth = root / "frames", root / "depth"
    rng = np.random.default_rng(0)
    w, h = size
    for v in range(n_videos):
        video = f"1_1_{v + 1:02d}_1"
        index = {}
        for i in range(1, n_frames + 1):
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            box = (w // 4 + i, h // 4, w // 3, h // 2)
            cv2.ellipse(img, (box[0] + box[2] // 2, box[1] + box[3] // 2), (box[2] // 2, box[3] // 2), 0, 0, 360,
                        (90, 140, 200), -1)
            fileio.write_image(fileio.frame_path(frames, video, i), img)
            fileio.write_bbox(fileio.bbox_path(frames, video, i), box)
            d = np.zeros((h, w), np.uint8)
            cv2.ellipse(d, (box[0] + box[2] // 2, box[1] + box[3] // 2), (box[2] // 2, box[3] // 2), 0, 0, 360,
                        int(rng.integers(100, 255)), -1)
            fileio.write_image(fileio.depth_path(depth, video, i), d)
            index[i] = {"box": list(box)}
        fileio.write_json(frames / video / "faces.json", index)
        fileio.mark_done(frames / video)
    return frames, depth


def test_crop_hand_checked_box_and_counts(tmp_path):
    frames, depth = make_work(tmp_path, n_videos=2, n_frames=3)
    # frame 1 of video 1: box (40, 30, 50, 60) -> scaled 1.3 around (65, 60) -> x 32.5..97.5, y 21..99,
    # clamped to whole pixels x 32..98, y 21..99. Depth (lossless PNG) is 200 exactly inside that region.
    fileio.write_bbox(fileio.bbox_path(frames, "1_1_01_1", 1), (40, 30, 50, 60))
    d = np.zeros((H, W), np.uint8)
    d[21:99, 32:98] = 200
    fileio.depth_path(depth, "1_1_01_1", 1).unlink()
    fileio.write_image(fileio.depth_path(depth, "1_1_01_1", 1, "png"), d)
    img = np.zeros((H, W, 3), np.uint8)
    img[21:99, 32:98] = (10, 120, 250)
    fileio.write_image(fileio.frame_path(frames, "1_1_01_1", 1, "jpg"), img, jpeg_quality=100)
    fileio.bbox_path(frames, "1_1_01_1", 2).unlink()  # no face in frame 2
    fileio.depth_path(depth, "1_1_02_1", 3).unlink()  # no depth map for frame 3 of video 2
    out = tmp_path / "crops"
    s = crop_all(frames, depth, out)
    assert s["frames"] == 6 and s["faces"] == 5
    assert s["failures"] == {"missing_depth": 1, "no_face": 1}
    assert s["failed_videos"] == {"missing_depth": ["1_1_02_1"], "no_face": ["1_1_01_1"]}
    dcrop = fileio.read_image(fileio.depth_path(out, "1_1_01_1", 1, "png"), grey=True)
    assert dcrop.shape == (32, 32) and (dcrop == 200).all()
    face = fileio.read_image(fileio.frame_path(out, "1_1_01_1", 1))
    assert face.shape == (256, 256, 3)
    assert np.abs(face.reshape(-1, 3).mean(0) - (10, 120, 250)).max() < 3  # the crop holds only the region
    assert not fileio.frame_path(out, "1_1_01_1", 2).exists()
    assert fileio.frame_path(out, "1_1_02_1", 3).is_file() and not fileio.depth_path(out, "1_1_02_1", 3, "png").exists()
    assert fileio.is_done(out / "1_1_01_1") and fileio.read_json(out / "summary.json")["faces"] == 5
    # rerun: everything skipped
    assert crop_all(frames, depth, out)["videos_skipped_already_done"] == 2


def test_crop_sizes_and_video_failures(tmp_path):
    frames, depth = make_work(tmp_path, n_videos=2, n_frames=2)
    (frames / "1_1_02_1" / "faces.json").unlink()  # extracted by the toolkit, detection unfinished
    (frames / "1_1_09_1").mkdir()  # no frames at all
    s = crop_all(frames, depth, tmp_path / "crops", scale=1.0, size=64, depth_size=16)
    assert s["failures"] == {"no_frames": 1, "not_detected": 1} and s["faces"] == 2
    assert fileio.read_image(fileio.frame_path(tmp_path / "crops", "1_1_01_1", 2)).shape == (64, 64, 3)
    assert fileio.read_image(fileio.depth_path(tmp_path / "crops", "1_1_01_1", 2, "png"), grey=True).shape == (16, 16)
    assert not (tmp_path / "crops" / "1_1_02_1" / ".done").exists()
    # a folder prepared elsewhere (frames + .dat, neither .done nor faces.json) is used as it is
    (frames / "1_1_02_1" / ".done").unlink()
    s = crop_all(frames, depth, tmp_path / "crops", scale=1.0, size=64, depth_size=16)
    assert s["videos_processed_now"] == 2 and s["faces"] == 2 and s["failures"] == {"no_frames": 1}
    with pytest.raises(ValueError, match="jpeg_quality must be an integer in 1..100, got 101"):
        crop_all(frames, depth, tmp_path / "crops_q", quality=101)


def test_crop_cli_errors(tmp_path):
    frames, depth = make_work(tmp_path, n_videos=1, n_frames=1)
    r = subprocess.run([sys.executable, "-m", "data.crop", "--frames", str(tmp_path / "nope"), "--depth", str(depth),
                        "--out", str(tmp_path / "c")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "frames folder not found" in r.stderr
    r = subprocess.run([sys.executable, "-m", "data.crop", "--frames", str(frames), "--depth", str(tmp_path / "nope"),
                        "--out", str(tmp_path / "c")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "depth folder not found" in r.stderr


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` except summary.json (it records timings and what each run did)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "summary.json"}


def test_kill_then_rerun_is_byte_identical(tmp_path):
    n_videos = 30
    frames, depth = make_work(tmp_path, n_videos=n_videos, n_frames=6, size=(320, 240))
    clean, resumed = tmp_path / "clean", tmp_path / "resumed"
    cmd = [sys.executable, "-m", "data.crop", "--frames", str(frames), "--depth", str(depth)]
    # The clean run is parallel, the interrupted one serial: the bytes must not depend on either.
    subprocess.run(cmd + ["--workers", "2", "--out", str(clean)], cwd=ROOT, check=True, capture_output=True)
    cmd += ["--workers", "1"]

    # Start, wait until a few videos are finished, kill -9 (no clean-up code runs), then rerun.
    proc = subprocess.Popen(cmd + ["--out", str(resumed)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 30
    try:
        while time.time() < deadline and proc.poll() is None:
            if len(list(resumed.glob("*/.done"))) >= 3:
                time.sleep(float(np.random.default_rng().uniform(0, 0.02)))  # land anywhere, mid-video too
                break
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done_at_kill = len(list(resumed.glob("*/.done")))
    if proc.returncode == 0:
        pytest.skip("the crop run finished before it could be interrupted (machine too fast for this workload)")
    assert 3 <= done_at_kill < n_videos
    assert not (resumed / "summary.json").exists()
    # What a kill during an atomic write leaves behind: a temp file next to the target.
    unfinished = next(v.name for v in sorted(frames.iterdir()) if not (resumed / v.name / ".done").exists())
    (resumed / unfinished).mkdir(exist_ok=True)
    (resumed / unfinished / f".{unfinished}_001_scene.jpg.abc.tmp").write_bytes(b"half a jpeg")

    rerun = subprocess.run(cmd + ["--out", str(resumed)], cwd=ROOT, check=True, capture_output=True, text=True)
    assert f"already done {done_at_kill})" in rerun.stdout
    a, b = tree_bytes(clean), tree_bytes(resumed)
    assert len(a) == n_videos * (6 * 2 + 1) + 1  # face + depth per frame, .done per video, the stage lock
    assert a[".stage.lock"] == b"" and b[".stage.lock"] == b""  # released: names no holder
    assert "taking over the lock" in rerun.stderr  # the killed run could not clear its name
    assert sorted(a) == sorted(b)
    assert all(a[k] == b[k] for k in a)
