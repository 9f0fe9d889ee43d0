"""Synthetic twins of the other datasets: their trees read by the dataset readers, face files, MCIO chain."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from data import synth, synth_twins
from data.make_lists import make_dataset_lists, make_mcio_lists
from data.synth_video import Style, read_video, render_shot
from fas_core.datasets import get_dataset

ROOT = Path(__file__).resolve().parents[1]
# (live, print, replay) per split of each tiny twin, from its construction (data/synth_twins.py):
# Replay-Attack: one client per split, 4 real, 2 x (1 print + 4 screen) attacks, 1 enrolment video;
# CASIA-FASD: subjects 1 (train), 20 (dev: subjects 17-20), test folder 1, 12 videos each;
# MSU-MFSD: clients 003 (train), 055 (dev), 001 (test), 2 devices x (1 real + 3 attacks);
# SiW: subjects 3 (train), 144 (dev), 1 and 153 (test), 2 live + 2 print + 4 replay each;
# Replay-Mobile: one client per split, 2 devices x (2 real + 2 print + 2 matte screen), 1 enrolment video.
EXPECTED = {
    "replay_attack": {"train": (4, 2, 8), "dev": (4, 2, 8), "test": (4, 2, 8)},
    "casia_fasd": {"train": (3, 6, 3), "dev": (3, 6, 3), "test": (3, 6, 3)},
    "msu_mfsd": {"train": (2, 2, 4), "dev": (2, 2, 4), "test": (2, 2, 4)},
    "siw": {"train": (2, 2, 4), "dev": (2, 2, 4), "test": (4, 4, 8)},
    "replay_mobile": {"train": (4, 4, 4), "dev": (4, 4, 4), "test": (4, 4, 4)},
}
CONTAINERS = {"replay_attack": {".mov"}, "casia_fasd": {".avi"}, "msu_mfsd": {".mp4", ".mov"}, "siw": {".mov"},
              "replay_mobile": {".mov"}}
ENROLMENT = {"replay_attack": 3, "replay_mobile": 3}


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> dict[str, Path]:
    """Each tiny twin, generated once for the module."""
    out = {}
    for layout in synth_twins.LAYOUTS:
        root = tmp_path_factory.mktemp(layout)
        summary = synth_twins.generate_twin(layout, root, Style(seed=0))
        assert summary["videos"] == len(synth_twins.twin_videos(layout)) and not summary["failures"].get("error")
        out[layout] = root
    return out


@pytest.mark.parametrize("layout", list(EXPECTED))
def test_make_lists_reads_the_twin(twins, tmp_path, layout):
    summary = make_dataset_lists(layout, twins[layout], tmp_path)
    assert summary["unmatched_count"] == 0
    assert summary["enrolment_skipped"] == ENROLMENT.get(layout, 0)
    got = {s: (c["live"], c["print"], c["replay"]) for s, c in summary["splits"].items()}
    assert got == EXPECTED[layout]
    videos = [p for p in twins[layout].rglob("*") if p.suffix in (".avi", ".mp4", ".mov")]
    assert {p.suffix for p in videos} == CONTAINERS[layout]
    first = get_dataset(layout).protocols[0]
    assert all(c["lines"] > 0 for path, c in summary["lists"].items() if path.startswith(first.split("_")[0]))


@pytest.mark.parametrize("layout, video", [
    ("replay_attack", "test/attack/hand/attack_print_client009_session01_highdef_photo_adverse"),
    ("replay_attack", "train/real/client001_session01_webcam_authenticate_controlled_2"),
    ("siw", "Test/live/153/153-2-1-1-1.m"),
    ("siw", "Train/spoof/144/144-1-3-4-1"),
])
def test_shipped_face_files_parse_and_frame_the_face(twins, layout, video):
    boxes = get_dataset(layout).face_boxes(twins[layout], video)
    assert boxes is not None and sorted(boxes) == [0, 1, 2, 3]  # one box per frame, from frame 0
    frames = read_video(twins[layout] / f"{video}.mov")
    h, w = frames.shape[1:3]
    for x, y, bw, bh in boxes.values():
        assert 0.15 * w < bw < 0.8 * w and 0.15 * h < bh < 0.95 * h
        assert -0.1 * w < x < w - 0.5 * bw and -0.1 * h < y < h - 0.5 * bh  # a face-sized box inside the frame


def test_twin_videos_have_their_domain_frame_sizes_and_colour(twins):
    sizes = {}
    red_blue = {}
    for layout, root in twins.items():
        shapes, ratios = set(), []
        for path in synth_twins.twin_videos(layout):
            frames = read_video(root / path)
            assert len(frames) == synth_twins.FRAMES["tiny"]
            shapes.add(frames.shape[2:0:-1])
            mean = frames.reshape(-1, 3).mean(0)
            ratios.append(mean[0] / mean[2])
        sizes[layout] = shapes
        red_blue[layout] = float(np.mean(ratios))
    assert sizes["replay_attack"] == {(160, 120)} and sizes["siw"] == {(192, 108)}
    assert sizes["casia_fasd"] == {(160, 120), (224, 126)}  # HR_ videos come from the high-quality camera
    assert sizes["msu_mfsd"] == {(180, 120), (160, 120)} and sizes["replay_mobile"] == {(108, 192), (120, 160)}
    # The Replay-Attack webcam renders warm, the MSU-MFSD and Replay-Mobile cameras cooler.
    assert red_blue["replay_attack"] > red_blue["msu_mfsd"] + 0.15
    assert red_blue["replay_attack"] > red_blue["replay_mobile"] + 0.15


def test_msu_android_real_videos_of_five_clients_are_upside_down(twins, tmp_path):
    summary = make_dataset_lists("msu_mfsd", twins["msu_mfsd"], tmp_path)
    assert summary["upside_down"] == ["real/real_client003_android_SD_scene01"]
    twin = synth_twins.twin_videos("msu_mfsd")["real/real_client003_android_SD_scene01.mp4"]
    stored = read_video(twins["msu_mfsd"] / twin.path)[0].astype(float)
    upright = render_shot(Style(seed=0), dataclasses.replace(twin.shot, upside_down=False))
    flipped = upright.frames[0, ::-1, ::-1].astype(float)
    assert np.abs(stored - flipped).mean() < 8 < np.abs(stored - upright.frames[0]).mean()
    lists = {p.name: p.read_text().split() for p in twins["msu_mfsd"].glob("*_sub_list.txt")}
    assert lists["train_sub_list.txt"][:3] == ["02", "03", "05"] and len(lists["test_sub_list.txt"]) == 20


def test_mcio_chain_runs_on_the_twins(twins, tmp_path):
    oulu = tmp_path / "oulu"
    cfg = synth.SynthConfig(preset="tiny", seed=0, overrides={"users": (1, 21, 36), "sessions": (1,), "frames": 2,
                                                               "files": (1, 2, 4)})
    synth.generate(cfg, oulu)
    roots = {"O": str(oulu), "C": str(twins["casia_fasd"]), "I": str(twins["replay_attack"]),
             "M": str(twins["msu_mfsd"])}
    summaries = {s["target"]: s for s in make_mcio_lists("all", roots, tmp_path / "lists")}
    m = summaries["M"]["lists"]
    assert m["Train.txt"]["domains"] == {"C": 36, "I": 28, "O": 6}  # I and O: train and test splits only
    assert m["Dev.txt"]["domains"] == {"I": 14, "O": 3}  # their dev splits, held out
    assert m["Test.txt"]["domains"] == {"M": 24}
    o = summaries["O"]["lists"]
    assert (o["Test.txt"]["live"], o["Test.txt"]["print"], o["Test.txt"]["replay"]) == (2, 2, 2)
    assert Counter(line.split(",")[1].split("/")[0] for line in (tmp_path / "lists" / "ICM_to_O" / "Train.txt")
                   .read_text().split()) == {"I": 28, "C": 36, "M": 24}


def test_cli_writes_a_twin_and_refuses_an_unknown_size(tmp_path):
    r = subprocess.run([sys.executable, "-m", "data.synth", "--layout", "siw", "--preset", "full", "--out",
                        str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "comes in sizes tiny, demo" in r.stderr
