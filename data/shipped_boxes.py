"""Face boxes shipped with a dataset, moved onto the extracted frames (``data.detect_faces --boxes shipped``).

Replay-Attack's ``face-locations`` files and SiW's ``.face`` files give a box per source video
frame (:meth:`fas_core.datasets.base.Dataset.face_boxes`). Frame extraction records, per video,
which source frame every written frame is and how it was turned and scaled
(``source_frames.json``, :mod:`data.extract_frames`); the boxes follow the same way. A frame
folder without that record (made by other tools) is taken as every frame from the first, as is.

A shipped box carries no landmarks: the frame's ``faces.json`` entry gets the detector's mean
landmark layout inside the box (:func:`fas_core.face_depth.landmarks_from_box`), which is what
the depth template is fitted to, and confidence 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fas_core import fileio
from fas_core.datasets import get_dataset
from fas_core.datasets.base import Box
from fas_core.face_depth import landmarks_from_box
from fas_core.face_detector import Face

from .extract_frames import SOURCE_INDEX

MISSING_BOX_RULES = ("mtcnn", "count")  # a frame without a shipped box: MTCNN finds its face, or it is counted


@dataclass(frozen=True)
class ShippedBoxes:
    """Where the boxes come from, and what a frame without one gets."""

    dataset: str
    videos_root: str
    missing_box: str = "mtcnn"

    def check(self) -> None:
        get_dataset(self.dataset)  # an unknown name is an error listing the known ones
        if self.missing_box not in MISSING_BOX_RULES:
            raise ValueError(f"--missing-box must be one of {', '.join(MISSING_BOX_RULES)}, "
                             f"got {self.missing_box!r}")
        if not Path(self.videos_root).is_dir():
            raise FileNotFoundError(f"dataset folder not found: {self.videos_root} (--dataset-root: where its face "
                                    "files are)")

    def describe(self) -> dict[str, Any]:
        return {"name": f"{get_dataset(self.dataset).title} shipped boxes", "dataset": self.dataset,
                "missing_box": self.missing_box}

    def source_boxes(self, video: str) -> dict[int, Box] | None:
        """The dataset's boxes of ``video`` by 0-based source frame; None when it ships none for it."""
        return get_dataset(self.dataset).face_boxes(self.videos_root, video)


@dataclass(frozen=True)
class SourceFrames:
    """How a video's written frames relate to its source frames."""

    frames: dict[int, int]  # written frame (1-based) -> source frame (0-based)
    frame_size: tuple[int, int] | None  # source (W, H)
    turned: bool = False
    scale: float = 1.0

    def source_of(self, index: int) -> int:
        return self.frames.get(index, index - 1)

    def place(self, box: Box) -> tuple[float, float, float, float]:
        """A source frame's box on the written frame: turned by 180 degrees with it, then scaled."""
        x, y, w, h = (float(v) for v in box)
        if self.turned and self.frame_size is not None:
            x, y = self.frame_size[0] - x - w, self.frame_size[1] - y - h
        s = self.scale
        return x * s, y * s, w * s, h * s


def read_source_frames(frames_root: str | Path, video: str) -> SourceFrames:
    """The extraction record of a frame folder (every frame from the first, as is, when there is none)."""
    path = Path(frames_root) / video / SOURCE_INDEX
    if not path.is_file():
        return SourceFrames({}, None)
    obj = fileio.read_json(path)
    try:
        frames = {int(k): int(v) for k, v in obj["frames"].items()}
        size = obj.get("frame_size") or None
        return SourceFrames(frames, tuple(int(v) for v in size) if size else None, bool(obj.get("turned_180")),
                            float(obj.get("scale", 1.0)))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"{path}: not a frame extraction record ({type(e).__name__}: {e})") from None


def shipped_faces(boxes: dict[int, Box] | None, record: SourceFrames, indices: list[int]) -> dict[int, Face | None]:
    """The face of every written frame that has a shipped box (``None`` for the others)."""
    faces: dict[int, Face | None] = {}
    for idx in indices:
        box = (boxes or {}).get(record.source_of(idx))
        if box is None:
            faces[idx] = None
            continue
        placed = record.place(box)
        faces[idx] = Face(box=placed, landmarks=np.asarray(landmarks_from_box(placed)), confidence=1.0)
    return faces
