"""Batched MTCNN face detection (facenet-pytorch 2.5.3) and the per-video face index.

docs/data.md, preprocessing step 2: frames go through MTCNN in batches; the most confident face of
each frame is kept as a CDCN/FAS-SGTD box ``(x, y, w, h)`` (top-left corner and size in pixels
of the full frame) with its 5 landmarks (left eye, right eye, nose, mouth left, mouth right;
"left" = image left) and its confidence. The weights ship inside the facenet-pytorch wheel,
so nothing is downloaded.

Speed: faces in anti-spoofing videos are large, so detection may run on a downscaled copy of
the frame (``downscale`` factor or ``max_side``) with a minimum face size that skips the finest
levels of MTCNN's image pyramid; boxes and landmarks are mapped back to full-frame pixels.

facenet-pytorch quirks handled here: with numpy 2 ``MTCNN.detect`` returns object arrays whose
shape depends on whether every frame found the same number of faces, ``None`` entries (and a
probability list ``[None]``) for frames without a face, and it refuses batches of unequal
image sizes, so frames are grouped by size.

The per-video index ``faces.json`` (written by ``data.detect_faces``, read by the depth, crop
and prediction stages)::

    {"video": "1_1_01_1", "frame_size": [W, H],
     "detector": {...settings...},
     "frames": {"001": {"box": [x, y, w, h], "landmarks": [[x, y] x 5], "confidence": c},
                "002": null, ...},
     "failures": {"003": "unreadable_frame"}}

``null`` means "no face found"; a frame that could not be read is ``null`` too and is listed
under ``failures``. A face entry carries its own ``frame_size`` only when it differs from the
video's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import fileio

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
# Coordinates in faces.json are rounded to this many decimals: enough for sub-pixel use, and
# it keeps the file small and the text stable.
JSON_DECIMALS = 2


# The preprocessing stage's settings (data.detect_faces), chosen with benchmarks/bench_detect_faces.py:
# faces in anti-spoofing videos are large (a third of the frame's height or more in OULU-NPU, SiW,
# Replay-Attack, CASIA-FASD), so a 400-pixel copy, a minimum face of 0.15 x the shorter side and a
# coarser image pyramid (scale step 0.6 instead of MTCNN's 0.709; the later networks refine the
# boxes) keep the boxes of a full-resolution search (mean IoU > 0.9) at a fraction of the cost.
# fas_core.predict uses them too, so that it crops faces from the boxes the test split was cut with.
PIPELINE_DETECTOR: dict[str, float] = {"max_side": 400, "min_face_size": 20.0, "min_face_frac": 0.15, "factor": 0.6}


@dataclass
class Face:
    """One detected face in full-frame pixels."""

    box: tuple[float, float, float, float]  # x, y, w, h (top-left corner and size)
    landmarks: np.ndarray  # [5, 2] float: left eye, right eye, nose, mouth left, mouth right
    confidence: float

    def to_json(self) -> dict[str, Any]:
        r = JSON_DECIMALS
        return {
            "box": [round(float(v), r) for v in self.box],
            "landmarks": [[round(float(x), r), round(float(y), r)] for x, y in np.asarray(self.landmarks)],
            "confidence": round(float(self.confidence), 5),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any], where: str = "faces.json") -> Face:
        """Parse one face entry; the error names ``where`` and what is wrong."""
        try:
            box = tuple(float(v) for v in obj["box"])
            lm = np.asarray(obj["landmarks"], dtype=np.float64)
            conf = float(obj["confidence"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{where}: bad face entry {obj!r}: {e}") from e
        if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"{where}: bad box {obj['box']!r} (expected x, y, w, h with w, h > 0)")
        if lm.shape != (5, 2):
            raise ValueError(f"{where}: landmarks have shape {lm.shape}, expected (5, 2)")
        return cls(box=box, landmarks=lm, confidence=conf)  # type: ignore[arg-type]


def _corners_to_xywh(b: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in b[:4])
    return x0, y0, x1 - x0, y1 - y0


def _as_float_array(obj: Any, shape_tail: tuple[int, ...]) -> np.ndarray | None:
    """facenet-pytorch entry -> float array ``[n, *shape_tail]``, or None when no face."""
    if obj is None:
        return None
    arr = np.asarray(obj)
    if arr.dtype == object:
        if arr.size == 0 or any(v is None for v in arr.ravel()):
            return None
        arr = arr.astype(np.float64)
    arr = np.asarray(arr, dtype=np.float64).reshape((-1, *shape_tail))
    return arr if len(arr) else None


class FaceDetector:
    """facenet-pytorch MTCNN over lists of RGB uint8 frames, in batches, optionally downscaled.

    The smallest face searched for is ``max(min_face_size, min_face_frac * shorter frame side)``
    full-frame pixels (a relative minimum suits any resolution: a face in an anti-spoofing video
    fills a good part of the frame). ``downscale`` (0 < f <= 1) shrinks every frame by
    that factor before detection; ``max_side`` shrinks a frame so that its longer side is at most
    that many pixels (the smaller of the two resulting factors wins). Thresholds and the pyramid
    scale step ``factor`` default to MTCNN's.
    """

    def __init__(self, min_face_size: float = 20, min_face_frac: float = 0.0, downscale: float | None = None,
                 max_side: int | None = None, batch_size: int = 16, thresholds: Sequence[float] = (0.6, 0.7, 0.7),
                 factor: float = 0.709, device: str = "cpu") -> None:
        from facenet_pytorch import MTCNN  # heavy import: only when a detector is made

        self.check_settings(min_face_size, min_face_frac, downscale, max_side, factor)
        self.min_face_size = float(min_face_size)
        self.min_face_frac = float(min_face_frac)
        self.downscale = downscale
        self.max_side = max_side
        self.batch_size = max(1, int(batch_size))
        self.thresholds = list(thresholds)
        self.factor = factor
        self.device = device
        # keep_all / selection are done here, not by facenet-pytorch: we sort by confidence.
        self._mtcnn = MTCNN(min_face_size=20, thresholds=self.thresholds, factor=factor, keep_all=True,
                            select_largest=False, post_process=False, device=device)

    @staticmethod
    def check_settings(min_face_size: float = 20, min_face_frac: float = 0.0, downscale: float | None = None,
                       max_side: int | None = None, factor: float = 0.709) -> None:
        """Raise ``ValueError`` naming the bad option (cheap: usable before any worker starts)."""
        if downscale is not None and not 0 < downscale <= 1:
            raise ValueError(f"downscale must be in (0, 1], got {downscale}")
        if max_side is not None and max_side < 24:
            raise ValueError(f"max_side must be at least 24 pixels, got {max_side}")
        if min_face_size <= 0:
            raise ValueError(f"min_face_size must be positive, got {min_face_size}")
        if not 0 <= min_face_frac < 1:
            raise ValueError(f"min_face_frac must be in [0, 1), got {min_face_frac}")
        if not 0.3 <= factor < 0.95:
            raise ValueError(f"factor (pyramid scale step) must be in [0.3, 0.95), got {factor}")

    def settings(self) -> dict[str, Any]:
        """The settings that determine the output (recorded in faces.json)."""
        return {"name": "facenet-pytorch MTCNN", "min_face_size": self.min_face_size,
                "min_face_frac": self.min_face_frac, "downscale": self.downscale, "max_side": self.max_side,
                "thresholds": self.thresholds, "factor": self.factor}

    def min_face_for(self, height: int, width: int) -> float:
        """Smallest face searched for in a ``height x width`` frame, in full-frame pixels."""
        return max(self.min_face_size, self.min_face_frac * min(height, width))

    def scale_for(self, height: int, width: int) -> float:
        """Factor applied to a ``height x width`` frame before detection (1.0 = full resolution)."""
        f = 1.0
        if self.downscale is not None:
            f = min(f, float(self.downscale))
        if self.max_side is not None and max(height, width) > self.max_side:
            f = min(f, self.max_side / max(height, width))
        return f

    # ------------------------------------------------------------------ detection
    def detect_all(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """All faces per frame, most confident first (an empty list when none)."""
        out: list[list[Face] | None] = [None] * len(frames)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, fr in enumerate(frames):
            if not (isinstance(fr, np.ndarray) and fr.ndim == 3 and fr.shape[2] == 3):
                raise ValueError(f"frame {i}: expected an RGB image [H, W, 3], got {getattr(fr, 'shape', type(fr))}")
            groups.setdefault(fr.shape, []).append(i)
        for shape, idx in groups.items():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start:start + self.batch_size]
                for i, faces in zip(chunk, self._detect_same_size([frames[i] for i in chunk], shape), strict=True):
                    out[i] = faces
        return [faces or [] for faces in out]

    def detect(self, frames: Sequence[np.ndarray]) -> list[Face | None]:
        """The most confident face per frame, or ``None`` when no face was found."""
        return [faces[0] if faces else None for faces in self.detect_all(frames)]

    def detect_one(self, frame: np.ndarray) -> Face | None:
        return self.detect([frame])[0]

    def _detect_same_size(self, frames: list[np.ndarray], shape: tuple[int, ...]) -> list[list[Face]]:
        import torch

        h, w = shape[:2]
        f = self.scale_for(h, w)
        if f < 1.0:
            size = (max(1, int(round(w * f))), max(1, int(round(h * f))))
            # Area averaging against aliasing when shrinking a lot; bilinear (5x cheaper) otherwise.
            interp = cv2.INTER_AREA if f < 0.5 else cv2.INTER_LINEAR
            small = [cv2.resize(fr, size, interpolation=interp) for fr in frames]
            fx, fy = size[0] / w, size[1] / h  # exact per-axis factors after rounding
        else:
            small, fx, fy = list(frames), 1.0, 1.0
        # MTCNN's smallest useful face is 12 px (its first network's window).
        self._mtcnn.min_face_size = max(12.0, self.min_face_for(h, w) * min(fx, fy))
        batch = np.ascontiguousarray(np.stack([np.asarray(s, dtype=np.uint8) for s in small]))
        with torch.inference_mode():
            boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
        results = []
        for k in range(len(frames)):
            b = _as_float_array(boxes[k], (4,))
            p = _as_float_array(probs[k], ())
            lm = _as_float_array(points[k], (5, 2))
            if b is None or p is None or lm is None or not (len(b) == len(p) == len(lm)):
                results.append([])
                continue
            order = np.argsort(-p, kind="stable")
            faces = []
            for j in order:
                bx = b[j].copy()
                bx[[0, 2]] /= fx
                bx[[1, 3]] /= fy
                pts = lm[j] / np.array([fx, fy])
                faces.append(Face(box=_corners_to_xywh(bx), landmarks=pts, confidence=float(p[j])))
            results.append(faces)
        return results


# ---------------------------------------------------------------------- per-video face index
FACES_INDEX = "faces.json"


def faces_index_path(frames_root: str | Path, video: str) -> Path:
    return Path(frames_root) / video / FACES_INDEX


def make_faces_index(video: str, frame_size: tuple[int, int] | None, faces: dict[int, Face | None],
                     sizes: dict[int, tuple[int, int]] | None = None, failures: dict[int, str] | None = None,
                     detector: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the faces.json object (see the module docstring); ``frame_size`` is (W, H)."""
    frames: dict[str, Any] = {}
    for idx in sorted(faces):
        face = faces[idx]
        entry = None if face is None else face.to_json()
        if entry is not None and sizes and idx in sizes and frame_size is not None and tuple(sizes[idx]) != tuple(
                frame_size):
            entry["frame_size"] = list(sizes[idx])
        frames[f"{idx:03d}"] = entry
    return {
        "video": video,
        "frame_size": None if frame_size is None else list(frame_size),
        "detector": detector or {},
        "frames": frames,
        "failures": {f"{i:03d}": kind for i, kind in sorted((failures or {}).items())},
    }


@dataclass
class FacesIndex:
    """A parsed faces.json."""

    video: str
    frame_size: tuple[int, int] | None  # (W, H)
    faces: dict[int, Face | None]  # 1-based frame index -> face or None
    sizes: dict[int, tuple[int, int]]  # frame index -> (W, H) for every face frame
    failures: dict[int, str]


def read_faces_index(path: str | Path) -> FacesIndex:
    """Read and validate a faces.json; errors name the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"face index not found: {path} (run data.detect_faces first)")
    try:
        obj = fileio.read_json(path)
    except ValueError as e:
        raise ValueError(f"face index {path} is not valid JSON: {e}") from e
    if not isinstance(obj, dict) or not isinstance(obj.get("frames"), dict):
        raise ValueError(f"face index {path} has no 'frames' mapping")
    fs = obj.get("frame_size")
    frame_size = None if fs is None else (int(fs[0]), int(fs[1]))
    faces: dict[int, Face | None] = {}
    sizes: dict[int, tuple[int, int]] = {}
    for key, entry in obj["frames"].items():
        try:
            idx = int(key)
        except ValueError as e:
            raise ValueError(f"face index {path}: frame key {key!r} is not a frame number") from e
        if entry is None:
            faces[idx] = None
            continue
        faces[idx] = Face.from_json(entry, where=f"{path} frame {key}")
        own = entry.get("frame_size")
        size = (int(own[0]), int(own[1])) if own is not None else frame_size
        if size is None:
            raise ValueError(f"face index {path}: frame {key} has a face but no frame size is recorded")
        sizes[idx] = size
    failures = {int(k): str(v) for k, v in (obj.get("failures") or {}).items()}
    return FacesIndex(video=str(obj.get("video", path.parent.name)), frame_size=frame_size, faces=faces,
                      sizes=sizes, failures=failures)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    iw = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    ih = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0
