"""A small synthetic preprocessed work tree for benchmarks/gpu_check.py, written in a few seconds.

The layout every method reads (docs/data.md): ``frames/<video>/<video>_<NNN>_scene.jpg`` with its
face box (``_scene.dat``) and the detector's ``faces.json`` (box and five landmarks per frame),
frame-sized ``depth/<video>/<video>_<NNN>_depth1D.jpg`` maps, and OULU-NPU protocol 1 lists.
The crop caches are then made by the project's own crop stage (``python -m data.crop``).

Videos follow OULU-NPU's names (``<phone>_<session>_<user>_<file>``): phone 1, users 01 and 02
for training, 21 for dev, 36 for test; file 1 is a live face, 2 and 3 print attacks, 4 and 5
replay attacks. A face is a drawn oval with eyes and a mouth, attacks are tinted with print dots
or screen stripes: what the check needs is images of the right sizes in the right places, not
a learnable task. Making the same tree with ``data.synth`` and ``data.preprocess`` (MTCNN on
every frame) costs far more (about a minute for the ``tiny`` preset on two busy CPU cores).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fas_core import fileio
from fas_core.face_detector import Face, faces_index_path, make_faces_index

SPLITS = {"Train": (("01", "02"), (1, 2)), "Dev": (("21",), (1, 2)), "Test": (("36",), (3,))}  # users, sessions
FILES = (1, 2, 3, 4, 5)
LABELS = {1: "+1", 2: "-1", 3: "-1", 4: "-2", 5: "-2"}  # live, print, replay (protocol list labels)
# Five landmarks (eyes, nose tip, mouth corners) as fractions of the face box.
LANDMARKS = np.array([[0.32, 0.38], [0.68, 0.38], [0.50, 0.58], [0.36, 0.76], [0.64, 0.76]])


@dataclass(frozen=True)
class TreeShape:
    """Frame size ``(height, width)``, the face box ``(x, y, w, h)`` and frames per video."""

    frame_hw: tuple[int, int]
    box: tuple[int, int, int, int]
    frames: int


def video_names() -> dict[str, list[str]]:
    """The videos of each protocol split."""
    return {split: [f"1_{s}_{u}_{f}" for u in users for s in sessions for f in FILES]
            for split, (users, sessions) in SPLITS.items()}


def draw_face(rng: np.random.Generator, w: int, h: int, file_code: int) -> np.ndarray:
    """An RGB ``h x w`` face: an oval with eyes and a mouth; attacks tinted, with dots (print) or stripes (replay)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    oval = (((xx - w / 2) / (0.42 * w)) ** 2 + ((yy - h / 2) / (0.48 * h)) ** 2) < 1.0
    face = np.full((h, w, 3), 70.0, np.float32)
    face[oval] = (205.0, 160.0, 135.0)
    for (fx, fy), radius in zip(LANDMARKS[[0, 1, 3, 4]], (0.06, 0.06, 0.04, 0.04), strict=True):
        face[((xx - fx * w) ** 2 + (yy - fy * h) ** 2) < (radius * w) ** 2] = (60.0, 40.0, 40.0)
    if file_code in (2, 3):
        dots = (xx.astype(int) % 4 == 0) & (yy.astype(int) % 4 == 0)
        face = face * 0.85 + (25.0, 15.0, 0.0) - 40.0 * dots[..., None]
    elif file_code in (4, 5):
        face = face * 0.9 + 20.0 * np.sin(yy / 2.0)[..., None] + (0.0, 10.0, 25.0)
    return np.clip(face + rng.normal(0.0, 5.0, face.shape), 0, 255).astype(np.uint8)


def depth_bump(w: int, h: int) -> np.ndarray:
    """A smooth face-shaped depth map (255 nearest, 0 off the face)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (0.42 * w)) ** 2 + ((yy - h / 2) / (0.48 * h)) ** 2
    return (np.clip(1.0 - r2, 0.0, 1.0) ** 0.5 * 255).astype(np.uint8)


def write_video(root: Path, video: str, shape: TreeShape, rng: np.random.Generator) -> None:
    """Frames, boxes, depth maps and ``faces.json`` of one video; the frame folder marked done."""
    frames, depth = root / "frames", root / "depth"
    height, width = shape.frame_hw
    x, y, w, h = shape.box
    file_code = int(video.rsplit("_", 1)[1])
    faces = {}
    for i in range(1, shape.frames + 1):
        dx = int(rng.integers(-w // 20, w // 20 + 1))  # a little motion between frames
        frame = np.full((height, width, 3), 110, np.uint8)
        frame[y:y + h, x + dx:x + dx + w] = draw_face(rng, w, h, file_code)
        fileio.write_image(fileio.frame_path(frames, video, i), np.ascontiguousarray(frame[:, :, ::-1]))
        box = (float(x + dx), float(y), float(w), float(h))
        fileio.write_bbox(fileio.bbox_path(frames, video, i), box)
        dmap = np.zeros((height, width), np.uint8)
        dmap[y:y + h, x + dx:x + dx + w] = depth_bump(w, h)  # attacks too: the face mask of the scoring sets
        fileio.write_image(fileio.depth_path(depth, video, i), dmap)
        faces[i] = Face(box=box, landmarks=LANDMARKS * (w, h) + (x + dx, y), confidence=0.999)
    fileio.write_json(faces_index_path(frames, video), make_faces_index(video, (width, height), faces))
    fileio.mark_done(frames / video)
    fileio.mark_done(depth / video)


def write_lists(root: Path, videos: dict[str, list[str]]) -> None:
    folder = root / "lists" / "Protocol_1"
    folder.mkdir(parents=True, exist_ok=True)
    for split, names in videos.items():
        text = "".join(f"{LABELS[int(v.rsplit('_', 1)[1])]},{v}\n" for v in names)
        fileio.atomic_write_text(folder / f"{split}.txt", text)


def make_tree(root: str | Path, shape: TreeShape, seed: int = 0) -> dict[str, int]:
    """Write the tree under ``root``; returns the number of videos per split."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    videos = video_names()
    for names in videos.values():
        for video in names:
            write_video(root, video, shape, rng)
    write_lists(root, videos)
    return {split: len(names) for split, names in videos.items()}
