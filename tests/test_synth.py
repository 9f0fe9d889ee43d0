"""Synthetic OULU-NPU (docs/data.md, "Synthetic OULU-NPU") and the colour-histogram baseline.

One tiny dataset is generated per test session (a few seconds); the tests check its layout,
lists, videos, true depth, determinism, MTCNN detection and the baseline on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from data import baseline, synth
from data.synth_face import derive_seed
from fas_core import fileio, oulu
from fas_core.crop import crop_face
from fas_core.face_detector import box_iou

ROOT = Path(__file__).resolve().parents[1]
TINY = synth.PRESETS["tiny"]
LIVE_SAMPLE = ("1_1_01_1", "1_3_36_1")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth_tiny")
    summary = synth.generate(synth.SynthConfig(preset="tiny", seed=0), out, workers=1)
    assert summary["videos"] == 45 and summary["frames"] == 45 * TINY.frames
    return out


@pytest.fixture(scope="module")
def detections(tiny) -> dict[str, list]:
    """MTCNN (facenet-pytorch, CPU) on frames 1 and 4 of every tiny video: box, landmarks or None."""
    import torch
    from facenet_pytorch import MTCNN

    torch.set_num_threads(1)
    mtcnn = MTCNN(keep_all=False, device="cpu")
    out = {}
    for name in TINY.video_names():
        frames = synth.read_avi(synth.video_path(tiny, name))[[0, 3]]
        boxes, _, lms = mtcnn.detect(list(frames), landmarks=True)
        out[name] = [None if b is None else (np.asarray(b, float).reshape(-1, 4)[0],
                                             np.asarray(m, float).reshape(-1, 5, 2)[0])
                     for b, m in zip(boxes, lms, strict=True)]
    return out


# ----------------------------------------------------------------------------- layout
def test_tiny_layout_names_and_counts(tiny):
    names = TINY.video_names()
    assert len(names) == 3 * 1 * 3 * 5
    found = sorted(p.relative_to(tiny).as_posix() for p in tiny.glob("*_files/*.avi"))
    assert found == sorted(f"{oulu.folder_of(n)}/{n}.avi" for n in names)
    assert (tiny / "Train_files" / "1_1_01_1.avi").is_file()
    assert (tiny / "Dev_files" / "1_2_21_3.avi").is_file()
    assert (tiny / "Test_files" / "1_3_36_5.avi").is_file()
    depth_files = sorted(p.stem for p in (tiny / "true_depth").glob("*.npz"))
    assert depth_files == sorted(n for n in names if n.endswith("_1"))  # live videos only
    meta = fileio.read_json(tiny / "synth_meta.json")
    assert (meta["preset"], meta["seed"], meta["difficulty"]) == ("tiny", 0, synth.DEFAULT_DIFFICULTY)
    assert (meta["width"], meta["height"], meta["frames"], meta["videos"]) == (160, 120, 6, 45)
    assert sorted(meta["identities"]) == ["01", "21", "36"]
    assert meta["identities"]["21"]["user"] == 21 and len(meta["identities"]["21"]["skin_rgb"]) == 3
    assert fileio.read_json(tiny / "summary.json")["videos"] == 45


def test_tiny_protocol_1_lists(tiny):
    p1 = tiny / "Protocols" / "Protocol_1"
    train, dev, test = (oulu.read_list(p1 / f"{s}.txt") for s in ("Train", "Dev", "Test"))
    assert [v for v, _ in train] == [f"1_{s}_01_{f}" for s in (1, 2) for f in range(1, 6)]
    assert [v for v, _ in dev] == [f"1_{s}_21_{f}" for s in (1, 2) for f in range(1, 6)]
    assert (p1 / "Test.txt").read_text().split() == ["+1,1_3_36_1", "-1,1_3_36_2", "-1,1_3_36_3",
                                                      "-2,1_3_36_4", "-2,1_3_36_5"]
    for entries in (train, dev, test):  # live, print and replay in every split
        assert {oulu.species_of(v) for v, _ in entries} == {"live", "print", "replay"}
    for p in ("Protocol_2/Test.txt", "Protocol_3/Train_1.txt", "Protocol_4/Test_6.txt"):
        assert (tiny / "Protocols" / p).is_file()


def test_videos_read_back(tiny):
    for name in TINY.video_names():
        cap = cv2.VideoCapture(str(synth.video_path(tiny, name)))
        assert cap.isOpened(), name
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == TINY.frames
        cap.release()
        frames = synth.read_avi(synth.video_path(tiny, name))
        assert frames.shape == (TINY.frames, 120, 160, 3) and frames.dtype == np.uint8
        assert 30 < frames.mean() < 220 and frames.std() > 15  # a picture, not a blank frame


# ----------------------------------------------------------------------------- true depth
def test_true_depth_zero_off_face_and_peak_at_nose(tiny, detections):
    for name in LIVE_SAMPLE:
        with np.load(synth.true_depth_path(tiny, name)) as z:
            assert list(z.keys()) == ["depth"]
            depth = z["depth"]
        assert depth.dtype == np.float16 and depth.shape == (TINY.frames, 120, 160)
        d = depth.astype(np.float32)
        assert d.min() == 0.0 and d.max() <= 1.0
        face = d > 0
        assert face[:, :, :10].sum() == 0 and face[:, -5:].sum() == 0  # frame border: no face
        assert 0.04 < face.mean() < 0.35
        assert d[face].min() >= 0.0199  # on the face never 0 (0 means "no face")
        for k, det in zip((0, 3), detections[name], strict=True):
            assert det is not None
            box, lm = det
            y, x = np.unravel_index(np.argmax(d[k]), d[k].shape)
            nose = lm[2]
            assert np.hypot(x - nose[0], y - nose[1]) < 0.25 * (box[2] - box[0]), (name, k, (x, y), nose)
            assert d[k].max() > 0.8 and d[k][face[k]].mean() < d[k].max() - 0.2


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_video_in_memory():
    cfg = synth.SynthConfig(preset="tiny", seed=3)
    a, b = synth.render_video(cfg, "1_2_21_1"), synth.render_video(cfg, "1_2_21_1")
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.depth, b.depth)
    other = synth.render_video(synth.SynthConfig(preset="tiny", seed=4), "1_2_21_1")
    assert not np.array_equal(a.frames[0], other.frames[0])


def test_files_identical_across_workers_and_presets(tiny, tmp_path):
    """A subset made with 2 workers equals the same videos of the full tiny run, byte for byte."""
    cfg = synth.SynthConfig(preset="tiny", seed=0, overrides={"users": (36,), "sessions": (3,)})
    synth.generate(cfg, tmp_path, workers=2)
    names = cfg.spec.video_names()
    assert len(names) == 5
    for name in names:
        assert synth.video_path(tmp_path, name).read_bytes() == synth.video_path(tiny, name).read_bytes(), name
    first = synth.read_avi(synth.video_path(tmp_path, names[0]))[0]
    assert np.array_equal(first, synth.read_avi(synth.video_path(tiny, names[0]))[0])
    with np.load(synth.true_depth_path(tmp_path, "1_3_36_1")) as a, \
            np.load(synth.true_depth_path(tiny, "1_3_36_1")) as b:
        assert np.array_equal(a["depth"], b["depth"])


def test_derived_seeds_are_stable():
    # Fixed values: a change here changes every dataset generated from a seed.
    assert derive_seed(0, "video", "1_1_01_1") == derive_seed(0, "video", "1_1_01_1")
    assert derive_seed(0, "video", "1_1_01_1") != derive_seed(1, "video", "1_1_01_1")
    assert derive_seed(0, "identity", 1) == 2493130819863289097


# ----------------------------------------------------------------------------- detection
def test_mtcnn_finds_faces_of_every_kind(detections):
    found: dict[str, list[bool]] = {"live": [], "print": [], "replay": []}
    for name, dets in detections.items():
        found[oulu.species_of(name)].extend(d is not None for d in dets)
    rates = {k: float(np.mean(v)) for k, v in found.items()}
    assert len(found["live"]) == 18 and len(found["print"]) == 36
    assert min(rates.values()) >= 0.9, rates


def test_renderer_boxes_match_mtcnn(tiny, detections):
    """The generator's own face boxes (live, print and replay) agree with MTCNN's."""
    cfg = synth.SynthConfig(preset="tiny", seed=0)
    ious = []
    for name in ("1_1_01_1", "1_2_21_3", "1_3_36_4"):
        v = synth.render_video(cfg, name)
        stored = synth.read_avi(synth.video_path(tiny, name))[0].astype(int)
        assert np.abs(v.frames[0].astype(int) - stored).mean() < 6  # only the MJPG coding differs
        for k, det in zip((0, 3), detections[name], strict=True):
            b = det[0]
            ious.append(box_iou(v.boxes[k], (b[0], b[1], b[2] - b[0], b[3] - b[1])))
    assert np.mean(ious) > 0.5, ious


# ----------------------------------------------------------------------------- baseline
def test_colour_histogram_hand_computed():
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 2] = 255  # BGR pure red
    h = baseline.colour_histogram(red).reshape(9, 16)
    assert np.allclose(h.sum(1), 1.0)
    # B, G, R | H, S, V | Y, Cr, Cb:  Y = 0.299 * 255 = 76 (bin 4), Cr = 255 (bin 15), Cb = 85 (bin 5)
    assert [int(np.argmax(r)) for r in h] == [0, 0, 15, 0, 15, 15, 4, 15, 5]


def test_baseline_runs_on_tiny_crops(tiny, detections, tmp_path):
    crops = tmp_path / "crops"
    for name, dets in detections.items():
        frames = synth.read_avi(synth.video_path(tiny, name))[[0, 3]]
        for k, (frame, det) in enumerate(zip(frames, dets, strict=True)):
            if det is not None:
                b = det[0]
                box = (b[0], b[1], b[2] - b[0], b[3] - b[1])
                face = crop_face(np.ascontiguousarray(frame[..., ::-1]), box, 1.3, 64)
                fileio.write_image(crops / name / f"{name}_{3 * k + 1:03d}_scene.jpg", face)
    out = tmp_path / "base" / "p1.json"
    rc = baseline.main(["--crops", str(crops), "--lists", str(tiny / "Protocols" / "Protocol_1"), "--json", str(out)])
    assert rc == 0
    fig = json.loads(out.read_text())
    assert fig["baseline"]["videos"] == {"Train": 10, "Dev": 10, "Test": 5}
    assert fig["counts"]["test"] == {"live": 1, "attack": 4, "attack_per_species": {"print": 2, "replay": 2}}
    assert 0.0 <= fig["ACER"] <= 1.0 and fig["ACER"] == pytest.approx((fig["APCER"] + fig["BPCER"]) / 2)
    lines = (tmp_path / "base" / "p1_test_scores.txt").read_text().split("\n")
    assert len([ln for ln in lines if ln]) == 5


def test_baseline_missing_crops_is_a_clear_error(tiny, tmp_path):
    rc = baseline.main(["--crops", str(tmp_path / "nothing"), "--lists", str(tiny / "Protocols" / "Protocol_1")])
    assert rc == 2


# ----------------------------------------------------------------------------- CLI
def test_cli_help_and_bad_arguments(tmp_path):
    for mod in ("data.synth", "data.baseline"):
        r = subprocess.run([sys.executable, "-m", mod, "--help"], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0 and "usage" in r.stdout
    with pytest.raises(SystemExit) as e:
        synth.main(["--out", str(tmp_path), "--preset", "tiny", "--difficulty", "1.5"])
    assert e.value.code == 2


def test_refuses_folder_made_with_other_settings(tiny):
    with pytest.raises(SystemExit, match="other settings"):
        synth.generate(synth.SynthConfig(preset="tiny", seed=1), tiny)


def test_attack_pose_spreads_to_the_live_range_only_at_high_difficulty():
    """Above difficulty 0.6 a photo or replay shows live-like head poses (yaw up to 24 degrees)."""
    names = [f"1_1_{u:02d}_{f}" for u in range(1, 56) for f in (2, 3, 4, 5)]
    default = synth.SynthConfig(preset="tiny", difficulty=synth.DEFAULT_DIFFICULTY)
    assert default.pose_match == 0.0
    assert all(not synth._content_pose_offset(default, n).any() for n in names)
    hardest = synth.SynthConfig(preset="tiny", difficulty=1.0)
    yaw = np.degrees([synth._content_pose_offset(hardest, n)[0] for n in names])
    assert np.abs(yaw).max() <= 24.0 and np.abs(yaw).max() > 15.0
    assert 6.0 < yaw.std() < 17.0  # a random phase of a 12-24 degree swing: std about 12.7
    half = synth.SynthConfig(preset="tiny", difficulty=0.8)
    assert half.pose_match == pytest.approx(0.5)
    assert synth._content_pose_offset(half, names[0])[0] == pytest.approx(0.5 * np.radians(yaw[0]))
