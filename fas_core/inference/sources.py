"""Inputs of predict: image files, folders, video files and cameras, read as RGB frames."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
VIDEO_EXTS = {".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".3gp"}


@dataclass
class Source:
    kind: str  # "image", "video", "frames" (a folder read as one sequence) or "camera"
    name: str
    files: list[Path] = field(default_factory=list)
    camera: int | None = None


def _kind_of(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS:
        return "image"
    if ext in VIDEO_EXTS:
        return "video"
    return "unknown"


def expand_inputs(inputs: Sequence[str], clip_mode: bool) -> tuple[list[Source], list[tuple[str, str]]]:
    """Sources for the command-line inputs, and ``(input, message)`` for each unusable one.

    A folder gives its images (each scored alone; with a multi-frame model, read in name order
    as one frame sequence) and its videos; files of unknown type are tried as an image.
    """
    sources, errors = [], []
    for text in inputs:
        p = Path(text)
        if p.is_dir():
            files = sorted(q for q in p.iterdir() if q.is_file())
            images = [q for q in files if _kind_of(q) == "image"]
            videos = [q for q in files if _kind_of(q) == "video"]
            if not images and not videos:
                errors.append((str(p), f"{p}: folder holds no images or videos"))
            if images and clip_mode:
                sources.append(Source("frames", str(p), images))
            else:
                sources += [Source("image", str(q), [q]) for q in images]
            sources += [Source("video", str(q), [q]) for q in videos]
        elif p.is_file():
            kind = _kind_of(p)
            sources.append(Source("image" if kind == "unknown" else kind, str(p), [p]))
        else:
            errors.append((str(p), f"{p}: no such file or folder"))
    return sources, errors


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8; the error names the file."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def iter_frames(source: Source) -> tuple[Iterator[tuple[int, np.ndarray]], float]:
    """``(index, RGB frame)`` pairs (1-based) of a video, frame folder or camera, and its fps."""
    if source.kind == "frames":
        return ((i + 1, read_rgb(f)) for i, f in enumerate(source.files)), 30.0
    cap = cv2.VideoCapture(source.camera if source.kind == "camera" else str(source.files[0]))
    if not cap.isOpened():
        what = f"camera {source.camera}" if source.kind == "camera" else f"{source.name}: not a readable video"
        raise ValueError(f"could not open {what}")
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if fps and math.isfinite(fps) and 1 <= fps <= 240 else 30.0

    def gen() -> Iterator[tuple[int, np.ndarray]]:
        i = 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                i += 1
                yield i, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()

    return gen(), fps
