"""Files the toolkit writes: modes that follow the umask, unreadable inputs, damaged frames, stale temp files."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data.crop import crop_all
from data.extract_frames import extract_frames
from data.extract_frames import main as extract_main
from fas_core import fileio
from fas_core.checkpoint import save_checkpoint
from fas_core.config import save_config

ROOT = Path(__file__).resolve().parents[1]
OTHER_UID = 65534  # "nobody": an account that owns none of the files
W, H = 160, 120


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@contextlib.contextmanager
def as_other_user() -> Iterator[None]:
    """Run the block with the file access rights of OTHER_UID (root only; undone at the end).

    Only the effective ids change, in this process: a child process run as that account could
    not start Python where the interpreter lies in root's private home.
    """
    groups, egid = os.getgroups(), os.getegid()
    os.setgroups([])
    os.setegid(OTHER_UID)
    os.seteuid(OTHER_UID)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(egid)
        os.setgroups(groups)


@pytest.fixture()
def open_dir() -> Iterator[Path]:
    """A folder any account may enter (pytest's tmp_path is private to the user running the tests)."""
    d = Path(tempfile.mkdtemp(prefix="fas-perm-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def gradient_frame(i: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    f = np.zeros((H, W, 3), np.uint8)
    f[..., 0], f[..., 1], f[..., 2] = xx * 255 // W, yy * 255 // H, 40 * i
    return f


def write_video(path: Path, n: int = 6) -> list[np.ndarray]:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [gradient_frame(i) for i in range(n)]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    for f in frames:
        vw.write(f)
    vw.release()
    return frames


def file_modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in sorted(root.rglob("*")) if p.is_file()}


def write_everything(root: Path) -> None:
    """Frames, summaries, done markers (extract), crops (crop), a checkpoint and a config file."""
    write_video(root / "videos" / "1_1_01_1.avi")
    extract_frames(root / "videos", root / "work" / "frames")
    frames = root / "work" / "frames"
    fileio.write_bbox(fileio.bbox_path(frames, "1_1_01_1", 1), (40, 30, 60, 60))
    fileio.write_json(frames / "1_1_01_1" / "faces.json", {})  # as face detection leaves it
    fileio.write_image(fileio.depth_path(root / "work" / "depth", "1_1_01_1", 1), np.full((H, W), 9, np.uint8))
    crop_all(frames, root / "work" / "depth", root / "work" / "crops")
    save_checkpoint({"model": {"w": torch.zeros(2)}}, root / "work" / "runs" / "last.pt")
    save_config({"a": 1}, root / "work" / "runs" / "config.yaml")
    with fileio.atomic_path(root / "work" / "runs" / "clip.avi", keep_suffix=True) as tmp:
        vw = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))  # the format from ".avi"
        assert vw.isOpened()
        vw.write(gradient_frame(0))
        vw.release()


def test_written_files_get_the_mode_of_a_plain_open(open_dir):
    with umask(0o022):
        write_everything(open_dir / "a")
    modes = file_modes(open_dir / "a" / "work")
    assert {"frames/1_1_01_1/1_1_01_1_001_scene.jpg", "frames/summary.json", "frames/1_1_01_1/.done",
            "frames/1_1_01_1/1_1_01_1_001_scene.dat", "crops/1_1_01_1/1_1_01_1_001_scene.jpg",
            "runs/last.pt", "runs/config.yaml", "runs/clip.avi"} <= set(modes)
    assert set(modes.values()) == {0o644}, modes  # 0o666 & ~0o022
    with umask(0o027):
        write_everything(open_dir / "b")
    assert set(file_modes(open_dir / "b" / "work").values()) == {0o640}
    if os.geteuid() != 0:
        return  # reading as another account needs root to become one
    files = sorted(p for p in (open_dir / "a" / "work").rglob("*") if p.is_file())
    with as_other_user():
        sizes = {p.name: len(p.read_bytes()) for p in files}
    assert sizes["last.pt"] > 0 and sizes["summary.json"] > 0


def test_unreadable_video_is_reported_as_a_permission_problem(open_dir, capsys):
    video = open_dir / "videos" / "1_1_01_1.avi"
    write_video(video)
    video.chmod(0o000)
    out = open_dir / "frames"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    run_as = as_other_user() if os.geteuid() == 0 else contextlib.nullcontext()
    with run_as:
        rc = extract_main(["--videos", str(open_dir / "videos"), "--out", str(out)])
    captured = capsys.readouterr()
    summary = fileio.read_json(out / "summary.json")
    assert summary["failures"] == {"unreadable_video": 1}
    assert "no permission to read video" in summary["messages"][0] and "mode ----------" in summary["messages"][0]
    assert "corrupt" not in captured.out
    assert rc == 1 and "all 1 videos failed (unreadable_video: 1)" in captured.err


def test_cut_video_drops_the_frame_it_ends_in(tmp_path):
    src = tmp_path / "v" / "1_1_01_1.avi"
    frames = write_video(src, n=6)
    data = src.read_bytes()
    last = data.rfind(b"\xff\xd8\xff")  # the last JPEG of the file starts here ...
    end = data.find(b"\xff\xd9", last)  # ... and ends here: cut the file half way through it
    src.write_bytes(data[: last + (end - last) // 2])
    s = extract_frames(src.parent, tmp_path / "f")
    out = tmp_path / "f" / "1_1_01_1"
    assert fileio.list_frame_indices(out, "1_1_01_1") == [1, 2, 3, 4, 5]
    for i in range(1, 6):  # every frame kept is whole: close to its source everywhere, bottom rows too
        got = fileio.read_image(fileio.frame_path(tmp_path / "f", "1_1_01_1", i)).astype(int)
        assert np.abs(got - frames[i - 1])[H // 2:].mean() < 4
    assert s["failures"] == {"damaged_frame": 1} and s["frames"] == 5
    assert s["failed_frames"] == {"damaged_frame": ["1_1_01_1_006"]}
    assert "source frame 6 did not decode fully" in s["messages"][0]


# ----------------------------------------------------------------------------- temp files of killed writes
def killed_writer_temp(target: Path) -> Path:
    """Start a write of ``target`` in another process and kill -9 it half way: the temp file it leaves."""
    code = ("import os, signal, sys; from fas_core import fileio; "
            "cm = fileio.atomic_path(sys.argv[1]); tmp = cm.__enter__(); tmp.write_bytes(b'half'); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    before = set(fileio.temp_files_of(target))
    r = subprocess.run([sys.executable, "-c", code, str(target)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == -signal.SIGKILL
    (temp,) = set(fileio.temp_files_of(target)) - before
    return temp


def age(path: Path, seconds: float) -> Path:
    """Set ``path``'s modification time ``seconds`` into the past (created empty when missing)."""
    path.touch()
    t = time.time() - seconds
    os.utime(path, (t, t))
    return path


def test_stale_temp_files_of_the_target_are_removed_by_its_next_write(tmp_path):
    # As after a crash: the leftovers are there before this process first writes into the folder.
    folder = tmp_path / "ck"
    target = folder / "last.pt"
    dead_young = killed_writer_temp(target)  # writer gone, but touched a moment ago
    dead_old = age(killed_writer_temp(target), 2 * 60)  # writer gone, untouched for two minutes
    alive = age(folder / f".last.pt.{fileio.HOST_TAG}-{os.getpid()}-0123abcd.tmp", 2 * 60)  # writer still runs
    legacy_old = age(folder / ".last.pt.k2j_x9aq.tmp", 2 * 3600)  # an mkstemp name: stale after an hour
    legacy_young = age(folder / ".last.pt.zz8_p1qm.tmp", 60)
    other_target = age(folder / ".best.pt.a1b2c3d4.tmp", 2 * 3600)  # stale, but left to best.pt's next write
    save_checkpoint({"step": 1}, target)
    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted(["last.pt", dead_young.name, alive.name, legacy_young.name, other_target.name])
    assert not dead_old.exists() and not legacy_old.exists()
    assert torch.load(target, weights_only=True) == {"step": 1}


def test_stale_temp_rule_at_the_grace_period(tmp_path):
    target = tmp_path / "summary.json"
    temp = age(killed_writer_temp(target), 61)
    assert fileio.is_stale_temp(temp)  # this host, pid gone, untouched for over STALE_TEMP_GRACE_S (60 s)
    assert not fileio.is_stale_temp(age(temp, 59))
    fileio.write_json(target, {"a": 1})
    assert temp.exists()  # still within the grace period
    assert fileio.remove_stale_temps(target) == []
    assert fileio.remove_stale_temps(age(temp, 120).with_name(target.name)) == [temp]
