"""Face detection: the MTCNN wrapper on a real photo, the stage's outputs, failures and resume identity."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skdata

from data.detect_faces import detect_faces
from fas_core import fileio
from fas_core.face_depth import render_depth
from fas_core.face_detector import FaceDetector, _as_float_array, box_iou, read_faces_index

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()  # RGB uint8, 512 x 512, one frontal face


@pytest.fixture(scope="module")
def detector():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield FaceDetector(min_face_size=40)
    torch.set_num_threads(threads)


def test_astronaut_box_landmarks_and_depth(astronaut, detector):
    face = detector.detect_one(astronaut)
    assert face is not None and face.confidence > 0.99
    x, y, w, h = face.box
    # The face of the portrait is around x 180-270, y 60-175 (hand-measured on the image).
    assert 170 < x < 195 and 50 < y < 75 and 75 < w < 100 and 95 < h < 125
    lm = face.landmarks
    assert lm.shape == (5, 2)
    assert lm[0, 0] < lm[2, 0] < lm[1, 0]  # left eye, nose, right eye from left to right
    assert lm[3, 0] < lm[4, 0] and lm[0, 1] < lm[2, 1] < lm[3, 1]  # mouth below the nose below the eyes
    assert ((lm >= [x, y]) & (lm <= [x + w, y + h])).all()  # landmarks inside the box
    d = render_depth((512, 512), lm, face.box)
    assert d.shape == (512, 512) and d.dtype == np.uint8
    big = np.zeros_like(d, bool)
    big[int(y - 0.5 * h):int(y + 1.5 * h), int(x - 0.3 * w):int(x + 1.3 * w)] = True
    assert d[~big].max() == 0  # zero outside the face
    assert (d > 0).sum() > 0.6 * w * h  # and it covers the face
    peak = np.unravel_index(np.argmax(d), d.shape)
    iod = np.linalg.norm(lm[1] - lm[0])
    assert math.hypot(peak[1] - lm[2, 0], peak[0] - lm[2, 1]) < 0.3 * iod  # peak at the nose
    ys, xs = np.nonzero(d)
    assert d[ys, xs].min() < 0.7 * d.max()  # falls off towards the outline


def test_batch_with_no_face_and_sizes(astronaut, detector):
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    blank = np.full_like(small, 127)
    frames = [small, blank, small[:, ::-1].copy(), astronaut]  # two sizes in one call
    faces = detector.detect(frames)
    assert faces[1] is None  # numpy 2: facenet-pytorch hands back None / object arrays here
    assert faces[0] is not None and faces[2] is not None and faces[3] is not None
    # The mirrored frame's box is the mirror of the first one's (within a few pixels).
    x, y, w, h = faces[0].box
    assert box_iou(faces[2].box, (256 - x - w, y, w, h)) > 0.85
    # Same face at two resolutions: boxes agree after mapping back to full-frame pixels.
    assert box_iou([v * 2 for v in faces[0].box], faces[3].box) > 0.85
    assert detector.detect_all([blank]) == [[]]


def test_downscaled_detection_keeps_the_box(astronaut, detector):
    full = detector.detect_one(astronaut)
    down = FaceDetector(min_face_size=40, max_side=200).detect_one(astronaut)
    assert FaceDetector(max_side=200).scale_for(512, 512) == pytest.approx(200 / 512)
    assert box_iou(full.box, down.box) > 0.9
    assert np.abs(full.landmarks - down.landmarks).max() < 6


def test_object_array_normalisation():
    assert _as_float_array(None, (4,)) is None
    assert _as_float_array(np.array([None], dtype=object), ()) is None
    arr = np.array([[1, 2, 3, 4]], dtype=object)
    out = _as_float_array(arr, (4,))
    assert out.dtype == np.float64 and out.tolist() == [[1, 2, 3, 4]]
    assert _as_float_array(np.zeros((0, 4)), (4,)) is None
    with pytest.raises(ValueError, match="min_face_frac"):
        FaceDetector.check_settings(min_face_frac=1.5)


# ----------------------------------------------------------------------------- the stage
def make_frames(root: Path, n_videos: int, n_frames: int, size: int = 160) -> Path:
    """Frames cut from the portrait, shifted a little per frame, written as the toolkit's layout."""
    img = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    frames = root / "frames"
    for v in range(n_videos):
        video = f"1_1_{v + 1:02d}_1"
        for i in range(1, n_frames + 1):
            x0, y0 = 120 + 6 * i + 2 * v, 20 + 3 * i
            crop = cv2.resize(img[y0:y0 + 200, x0:x0 + 200], (size, size), interpolation=cv2.INTER_AREA)
            fileio.write_image(fileio.frame_path(frames, video, i), crop)
        fileio.mark_done(frames / video)
    return frames


def test_stage_outputs_and_failures(tmp_path):
    frames = make_frames(tmp_path, n_videos=2, n_frames=3)
    fileio.write_image(fileio.frame_path(frames, "1_1_02_1", 2), np.full((160, 160, 3), 127, np.uint8))
    fileio.write_bbox(fileio.bbox_path(frames, "1_1_02_1", 2), (1, 2, 3, 4))  # stale box from another run
    fileio.frame_path(frames, "1_1_02_1", 3).write_bytes(b"not an image")
    (frames / "1_1_03_1").mkdir()  # no frames
    s = detect_faces(frames, batch_size=2)
    assert s["frames"] == 6 and s["faces"] == 4
    assert s["failures"] == {"no_face": 1, "no_frames": 1, "unreadable_frame": 1}
    assert s["failed_videos"]["no_face"] == ["1_1_02_1"]
    assert fileio.read_json(frames / "summary.json")["stage"] == "detect_faces"
    idx = read_faces_index(frames / "1_1_02_1" / "faces.json")
    assert idx.frame_size == (160, 160) and idx.faces[2] is None and idx.faces[3] is None
    assert idx.failures == {3: "unreadable_frame"}
    assert not fileio.bbox_path(frames, "1_1_02_1", 2).exists()  # the stale box is gone
    face = idx.faces[1]
    assert fileio.read_bbox(fileio.bbox_path(frames, "1_1_02_1", 1)) == tuple(int(round(v)) for v in face.box)
    assert face.box[2] > 40 and face.landmarks.shape == (5, 2)
    assert not (frames / "1_1_03_1" / "faces.json").exists()
    # rerun: the two detected videos are skipped, the empty one is tried again
    s = detect_faces(frames)
    assert s["videos_skipped_already_done"] == 2 and s["failures"] == {"no_frames": 1}


def test_cli_errors(tmp_path):
    r = subprocess.run([sys.executable, "-m", "data.detect_faces", "--frames", str(tmp_path / "nope")], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "frames folder not found" in r.stderr
    (tmp_path / "f" / "v").mkdir(parents=True)
    r = subprocess.run([sys.executable, "-m", "data.detect_faces", "--frames", str(tmp_path / "f"), "--downscale",
                        "2"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "downscale must be in (0, 1]" in r.stderr


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` except summary.json (it records timings and what each run did)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "summary.json"}


def test_kill_then_rerun_is_byte_identical(tmp_path):
    n_videos = 12
    clean = make_frames(tmp_path / "clean", n_videos=n_videos, n_frames=2, size=120)
    resumed = make_frames(tmp_path / "resumed", n_videos=n_videos, n_frames=2, size=120)
    cmd = [sys.executable, "-m", "data.detect_faces", "--batch-size", "2", "--frames"]
    threads = torch.get_num_threads()
    detect_faces(clean, batch_size=2)  # in-process: the stage fixes torch's thread count itself

    # Start, wait until some videos are detected, kill -9 (no clean-up code runs), then rerun.
    proc = subprocess.Popen(cmd + [str(resumed)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    done = 0
    while time.time() < deadline and proc.poll() is None:
        done = len(list(resumed.glob("*/faces.json")))
        if done >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    done = len(list(resumed.glob("*/faces.json")))
    assert 0 < done < n_videos, f"the run was not interrupted half-way ({done} of {n_videos} done)"
    # What an interrupted write could leave behind: a temp file and a box of an unfinished video.
    unfinished = sorted(p.name for p in resumed.iterdir() if p.is_dir() and not (p / "faces.json").exists())[0]
    (resumed / unfinished / f".{unfinished}_001_scene.dat.abc.tmp").write_text("12\n")
    detect_faces(resumed, batch_size=2)
    torch.set_num_threads(threads)
    assert fileio.read_json(resumed / "summary.json")["videos_skipped_already_done"] == done
    assert tree_bytes(resumed) == tree_bytes(clean)


def test_faces_index_round_trip_with_mixed_sizes(tmp_path):
    from fas_core.face_detector import Face, make_faces_index

    lm = np.array([[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]], float)
    faces = {1: Face((5.0, 6.0, 30.0, 40.0), lm, 0.9876543), 2: None, 3: Face((1.234, 2.0, 3.0, 4.0), lm + 0.005, 0.5)}
    index = make_faces_index("v", (64, 48), faces, sizes={1: (64, 48), 3: (32, 24)}, failures={2: "unreadable_frame"})
    assert index["frames"]["001"] == {"box": [5.0, 6.0, 30.0, 40.0], "landmarks": lm.tolist(), "confidence": 0.98765}
    assert index["frames"]["002"] is None and index["frames"]["003"]["frame_size"] == [32, 24]
    fileio.write_json(tmp_path / "faces.json", index)
    back = read_faces_index(tmp_path / "faces.json")
    assert back.frame_size == (64, 48) and back.sizes == {1: (64, 48), 3: (32, 24)}
    assert back.failures == {2: "unreadable_frame"} and back.faces[2] is None
    assert back.faces[3].box == (1.23, 2.0, 3.0, 4.0)  # two decimals in the file
    (tmp_path / "bad.json").write_text('{"frames": {"001": {"box": [1, 2, 0, 4], "landmarks": [], "confidence": 1}}}')
    with pytest.raises(ValueError, match="bad box"):
        read_faces_index(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="run data.detect_faces first"):
        read_faces_index(tmp_path / "nope.json")
