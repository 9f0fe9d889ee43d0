"""File layout and IO shared by every stage and loader.

Names follow the de-facto convention of CDCN, FAS-SGTD and PRNet-Depth-Generation so that
folders preprocessed by those tools can be used unchanged:

    <frames_root>/<video>/<video>_<NNN>_scene.jpg     frame NNN (1-based, 3 digits)
                                                      (a video id with folders, ``train/real/x``,
                                                      keeps them: ``train/real/x/x_<NNN>_scene.jpg``)
    <frames_root>/<video>/<video>_<NNN>_scene.dat     face box: 4 lines x, y, w, h (full frame px)
    <frames_root>/<video>/faces.json                  per-video index: box, 5 landmarks, confidence
    <depth_root>/<video>/<video>_<NNN>_depth1D.jpg    depth map, frame size, 0..255, 0 off the face
    <crops_root>/<video>/<video>_<NNN>_scene.jpg      256x256 face crop (offline crop cache)
    <crops_root>/<video>/<video>_<NNN>_depth1D.png    32x32 depth crop (lossless)

Every writer here is atomic (temporary file + rename): an interrupted run never leaves a
half-written file behind, so a rerun can trust whatever exists.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

FRAME_RE = re.compile(r"^(?P<video>.+)_(?P<index>\d{3,})_scene\.(jpg|png)$")
DONE_MARKER = ".done"


def video_basename(video: str) -> str:
    """The last component of a video id: ``train/real/client001_x`` -> ``client001_x`` (OULU ids have one)."""
    return video.rsplit("/", 1)[-1]


def frame_name(video: str, index: int) -> str:
    """Stem shared by a frame's files, e.g. ``1_1_01_1_005`` (index is 1-based; named after the id's last part)."""
    return f"{video_basename(video)}_{index:03d}"


def frame_path(frames_root: str | Path, video: str, index: int, ext: str = "jpg") -> Path:
    return Path(frames_root) / video / f"{frame_name(video, index)}_scene.{ext}"


def bbox_path(frames_root: str | Path, video: str, index: int) -> Path:
    return Path(frames_root) / video / f"{frame_name(video, index)}_scene.dat"


def depth_path(depth_root: str | Path, video: str, index: int, ext: str = "jpg") -> Path:
    return Path(depth_root) / video / f"{frame_name(video, index)}_depth1D.{ext}"


def find_depth_map(depth_root: str | Path, video: str, index: int) -> Path | None:
    """The frame's depth map, ``_depth1D.jpg`` (as PRNet writes it) or ``.png``; None when there is neither."""
    for ext in ("jpg", "png"):
        p = depth_path(depth_root, video, index, ext)
        if p.is_file():
            return p
    return None


def list_frame_indices(folder: str | Path, video: str) -> list[int]:
    """Sorted 1-based indices of the ``*_scene.jpg|png`` frames of ``video`` inside ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = FRAME_RE.match(p.name)
        if m and m.group("video") == video_basename(video):
            out.append(int(m.group("index")))
    return sorted(out)


# ----------------------------------------------------------------------------- atomic writes
def _atomic_target(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = _atomic_target(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_image(path: str | Path, image: np.ndarray, jpeg_quality: int = 95) -> None:
    """Write a BGR (or grey) uint8 image atomically; format from the suffix."""
    path = Path(path)
    ext = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise OSError(f"could not encode image for {path}")
    atomic_write_bytes(path, buf.tobytes())


def read_image(path: str | Path, grey: bool = False) -> np.ndarray:
    """Read an image as BGR uint8 (or single-channel); a clear error names a missing/bad file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"unreadable or corrupt image: {path}")
    return img


# ----------------------------------------------------------------------------- boxes
def bbox_as_stored(box: Sequence[float]) -> tuple[int, int, int, int]:
    """A box as a ``.dat`` file holds it: x, y, w, h rounded to whole pixels."""
    x, y, w, h = (int(round(float(v))) for v in box)
    return x, y, w, h


def write_bbox(path: str | Path, box: tuple[float, float, float, float]) -> None:
    """Write a CDCN/FAS-SGTD ``.dat`` file: x, y, w, h (top-left corner and size), one per line."""
    x, y, w, h = bbox_as_stored(box)
    atomic_write_text(path, f"{x}\n{y}\n{w}\n{h}\n")


def read_bbox(path: str | Path) -> tuple[int, int, int, int]:
    """Read a ``.dat`` box file; the error names the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"face box file not found: {path}")
    values = path.read_text().split()
    if len(values) < 4:
        raise ValueError(f"face box file {path} has {len(values)} values, expected 4 (x, y, w, h)")
    try:
        x, y, w, h = (int(round(float(v))) for v in values[:4])
    except ValueError as e:
        raise ValueError(f"face box file {path} is not numeric: {values[:4]}") from e
    if w <= 0 or h <= 0:
        raise ValueError(f"face box file {path} has a non-positive size w={w} h={h}")
    return x, y, w, h


def is_done(folder: str | Path) -> bool:
    return (Path(folder) / DONE_MARKER).is_file()


def mark_done(folder: str | Path) -> None:
    atomic_write_text(Path(folder) / DONE_MARKER, "")
