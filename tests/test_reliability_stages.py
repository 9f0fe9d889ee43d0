"""Stage runs: exit status when every video failed, one run per folder, failed frames on screen,
quoted commands, and shards that split the videos and merge their summaries."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from data import preprocess
from data.crop import crop_all
from data.extract_frames import extract_frames
from fas_core import fileio
from fas_core.runlock import RunLockedError, run_lock
from fas_core.shards import Shard
from tests.test_crop_stage import make_work

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=ENV, capture_output=True, text=True)


def write_video(path: Path, n: int = 3, level: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(n):
        vw.write(np.full((24, 32, 3), level + 10 * i, np.uint8))
    vw.release()


# ----------------------------------------------------------------------------- every video failed
def test_stage_where_every_video_failed_exits_nonzero(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "1_1_01_1.avi").write_bytes(np.random.default_rng(0).bytes(3000))  # not a video
    (videos / "1_1_01_2.avi").write_bytes(b"")
    r = cli("data.extract_frames", "--videos", str(videos), "--out", str(tmp_path / "frames"))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == ("extract_frames: error: all 2 videos failed "
                                                  "(corrupt_video: 1, empty_video: 1); nothing for the next stage")
    assert fileio.read_json(tmp_path / "frames" / "summary.json")["videos_failed"] == 2
    write_video(videos / "1_1_01_3.avi")  # one good video is enough for a usable run
    r = cli("data.extract_frames", "--videos", str(videos), "--out", str(tmp_path / "frames"))
    assert r.returncode == 0 and fileio.read_json(tmp_path / "frames" / "summary.json")["videos_failed"] == 2
    # a later stage too: crop over folders whose detection never ran
    frames, depth = make_work(tmp_path / "w", n_videos=2, n_frames=1)
    for v in ("1_1_01_1", "1_1_02_1"):
        (frames / v / "faces.json").unlink()
    r = cli("data.crop", "--frames", str(frames), "--depth", str(depth), "--out", str(tmp_path / "crops"))
    assert r.returncode == 1 and "all 2 videos failed (not_detected: 2)" in r.stderr


# ----------------------------------------------------------------------------- one run per folder
def hold_lock(root: Path, name: str, shard: str = "") -> subprocess.Popen:
    """Another process that holds the lock of ``root`` until it is killed; returns once it holds it."""
    code = ("import sys, time; from fas_core.runlock import run_lock; from fas_core.shards import Shard\n"
            "with run_lock(sys.argv[1], sys.argv[2], Shard.parse(sys.argv[3]) if sys.argv[3] else None):\n"
            "    print('held', flush=True); time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(root), name, shard], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_run_on_a_folder_is_refused_naming_the_first(tmp_path):
    frames, depth = make_work(tmp_path, n_videos=2, n_frames=1)
    crops = tmp_path / "crops"
    holder = hold_lock(crops, "stage")
    try:
        r = cli("data.crop", "--frames", str(frames), "--depth", str(depth), "--out", str(crops))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith(f"crop: error: {crops} is in use by another run: pid {holder.pid} on host "
                               f"{socket.gethostname()} since 20")
    assert "wait for it to end or stop it" in r.stderr and not list(crops.glob("*/.done"))
    # the holder was killed -9: its lock is gone with it, and the next run says whose it took over
    r = cli("data.crop", "--frames", str(frames), "--depth", str(depth), "--out", str(crops))
    assert r.returncode == 0 and f"taking over the lock {crops / '.stage.lock'}" in r.stderr
    assert f"pid {holder.pid} on host" in r.stderr
    assert (crops / ".stage.lock").read_text() == ""


def test_second_preprocess_chain_on_a_work_dir_is_refused(tmp_path):
    videos = tmp_path / "videos"
    write_video(videos / "Train_files" / "1_1_01_1.avi")
    work = tmp_path / "work"
    holder = hold_lock(work, "preprocess")
    try:
        r = cli("data.preprocess", f"oulu_root={videos}", f"work_root={work}")
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 2
    assert r.stderr.startswith(f"preprocess: error: {work} is in use by another run: pid {holder.pid} on host")
    assert not (work / "frames").exists()


def test_shards_lock_side_by_side_but_not_with_a_whole_run(tmp_path):
    with run_lock(tmp_path, "stage", Shard(1, 2)), run_lock(tmp_path, "stage", Shard(2, 2)):
        with pytest.raises(RunLockedError, match=r"in use by another run: shard 1/2: pid \d+ on host .*; shard 2/2"):
            with run_lock(tmp_path, "stage"):
                pass
        with pytest.raises(RunLockedError, match="shard 2/2: pid"):
            with run_lock(tmp_path, "stage", Shard(2, 2)):
                pass
    with run_lock(tmp_path, "stage"):
        assert json.loads((tmp_path / ".stage.lock").read_text())["pid"] == os.getpid()
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()} on host"):
            with run_lock(tmp_path, "stage", Shard(1, 2)):
                pass


# ----------------------------------------------------------------------------- failed frames on screen
def test_failed_frames_are_named_on_screen(tmp_path, capsys):
    frames, depth = make_work(tmp_path, n_videos=2, n_frames=4)
    for idx in (1, 2, 4):
        fileio.bbox_path(frames, "1_1_01_1", idx).unlink()
    for idx in (2, 3, 4):
        fileio.bbox_path(frames, "1_1_02_1", idx).unlink()
    fileio.depth_path(depth, "1_1_01_1", 3).unlink()
    crop_all(frames, depth, tmp_path / "crops")
    out = capsys.readouterr().out
    where = tmp_path / "crops" / "summary.json"
    assert "  missing_depth: 1 frame(s): 1_1_01_1_003\n" in out
    assert (f"  no_face: 6 frame(s): 1_1_01_1_001, 1_1_01_1_002, 1_1_01_1_004, 1_1_02_1_002, 1_1_02_1_003, ... "
            f"(all 6 in {where}, key failed_frames)\n") in out
    assert fileio.read_json(where)["failed_frames"]["no_face"][5] == "1_1_02_1_004"


# ----------------------------------------------------------------------------- quoted commands
def test_printed_stage_commands_are_shell_quoted(tmp_path, capsys):
    videos = tmp_path / "it's a dir" / "videos"
    write_video(videos / "Train_files" / "1_1_01_1.avi")
    work = tmp_path / "work $HOME"
    assert preprocess.main([f"oulu_root={videos}", f"work_root={work}", "--dry-run"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("== extract_frames: "))
    argv = shlex.split(line[len("== extract_frames: "):])
    assert argv == ["python", "-m", "data.extract_frames", "--videos", str(videos), "--out", str(work / "frames"),
                    "--every", "1", "--workers", "2"]


# ----------------------------------------------------------------------------- shards
def shard_by_rule(video: str, n: int) -> int:
    """The documented rule, written out: CRC-32 of the name mod n, plus 1."""
    return zlib.crc32(video.encode()) % n + 1


def crc32_bitwise(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) one bit at a time."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_shard_rule_and_parsing():
    assert crc32_bitwise(b"123456789") == 0xCBF43926  # the standard check value of CRC-32
    names = [f"1_{s}_{u:02d}_{f}" for s in (1, 2, 3) for u in (1, 21, 36) for f in (1, 2, 3, 4, 5)]
    for n in (1, 2, 3, 7):
        owners = {v: [i for i in range(1, n + 1) if Shard(i, n).selects(v)] for v in names}
        assert owners == {v: [crc32_bitwise(v.encode()) % n + 1] for v in names}  # exactly one shard each
    assert Shard.parse(" 3/4 ") == Shard(3, 4) and str(Shard(3, 4)) == "3/4"
    for bad in ("0/2", "3/2", "1/0", "1-2", "x"):
        with pytest.raises(ValueError, match="shard"):
            Shard.parse(bad)
    r = cli("data.crop", "--frames", "f", "--depth", "d", "--out", "o", "--shard", "3/2")
    assert r.returncode == 2 and "--shard: shard 3/2: need 1 <= i <= n" in r.stderr


def make_videos(root: Path) -> list[str]:
    names = [f"1_{s}_{u:02d}_{f}" for s in (1, 2) for u in (1, 2) for f in (1, 2, 3)]
    for i, name in enumerate(names):
        write_video(root / "Train_files" / f"{name}.avi", n=2 + i % 3, level=20 + 15 * i)
    (root / "Train_files" / "1_3_01_1.avi").write_bytes(b"")  # one that fails
    return sorted([*names, "1_3_01_1"])


def without_time(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "seconds"}


def test_two_shards_cover_every_video_once_and_merge_into_a_single_runs_summary(tmp_path):
    videos = tmp_path / "videos"
    names = make_videos(videos)
    assert {shard_by_rule(v, 2) for v in names} == {1, 2}  # both shards get work
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    extract_frames(videos, single, workers=2)
    r1 = cli("data.extract_frames", "--videos", str(videos), "--out", str(sharded), "--shard", "1/2")
    assert r1.returncode == 0 and "1 of 2 shard summaries present" in r1.stdout
    assert not (sharded / "summary.json").exists()
    r2 = cli("data.extract_frames", "--videos", str(videos), "--out", str(sharded), "--shard", "2/2")
    assert r2.returncode == 0 and "all 2 shards done: merged summary (13 videos, 1 failed)" in r2.stdout
    parts = [fileio.read_json(sharded / f"extract_frames_summary.shard-{i}-of-2.json") for i in (1, 2)]
    for i, part in enumerate(parts, 1):
        assert [rec["video"] for rec in part["per_video"]] == [v for v in names if shard_by_rule(v, 2) == i]
    assert sorted(p.name for p in sharded.iterdir() if p.is_dir()) == sorted(p.name for p in single.iterdir()
                                                                             if p.is_dir())
    want = without_time(fileio.read_json(single / "summary.json"))
    assert want["videos"] == 13 and want["failures"] == {"empty_video": 1}
    assert without_time(fileio.read_json(sharded / "summary.json")) == want
    assert without_time(fileio.read_json(sharded / "extract_frames_summary.json")) == want
    # merged again by hand
    (sharded / "summary.json").unlink()
    r = cli("data.preprocess", "merge-summaries", str(tmp_path / "sharded"))
    assert r.returncode == 0 and without_time(fileio.read_json(sharded / "summary.json")) == want
    # a whole run supersedes the shard summaries
    extract_frames(videos, sharded)
    assert not list(sharded.glob("*shard-*.json"))


def test_merge_names_a_missing_shard_and_preprocess_passes_the_shard_on(tmp_path, capsys):
    videos = tmp_path / "videos"
    make_videos(videos)
    work = tmp_path / "work"
    extract_frames(videos, work / "frames", shard=Shard(2, 3))
    r = cli("data.preprocess", "merge-summaries", str(work))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"preprocess merge-summaries: error: {work / 'frames'}: no summary yet of extract_frames shard(s) 1, 3 "
        "of 3 (expected extract_frames_summary.shard-1-of-3.json)")
    capsys.readouterr()
    assert preprocess.main([f"oulu_root={videos}", f"work_root={tmp_path / 'new'}", "--dry-run", "--shard", "2/3"]) == 0
    out = capsys.readouterr().out
    for stage in ("extract_frames", "detect_faces", "make_depth", "crop"):
        line = next(ln for ln in out.splitlines() if ln.startswith(f"== {stage}: "))
        assert line.endswith("--shard 2/3")
    assert "== make_lists: not run here" in out
    assert preprocess.main([f"oulu_root={tmp_path / 'none'}", f"work_root={work}", "--shard", "1/2"]) == 2
    assert "generate it once before the shards run: python -m data.synth --out" in capsys.readouterr().err
