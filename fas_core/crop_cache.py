"""The offline crop cache's contract: what ``data.crop`` writes, what a loader reads, what predict imitates.

One entry per frame with a face box:

* ``<root>/<video>/<video>_<NNN>_scene.jpg``: the frame cut with the box scaled by ``scale``
  around its centre and clamped to the frame (:func:`fas_core.crop.crop_face`), resized
  bilinearly to ``face_size`` and stored as a BGR JPEG of ``jpeg_quality``;
* ``<root>/<video>/<video>_<NNN>_depth1D.png``: the frame-sized depth map cut with the same box,
  resized bilinearly to ``depth_size`` and stored losslessly (absent when the frame had no map).

A cache for training may be cut at a scale drawn per frame from a set (``data.crop --scales``,
:func:`drawn_scale`); the entries a model is scored on are cut at one scale (1.3), the one
predict imitates.

A loader reads an entry at the model's input size ``S``: the face resized to ``S`` with
``resize`` (``linear``, cv2's default as the original loaders, or ``area``), the depth crop to
its map size, averaged when shrunk (a smaller map of the same face), bilinear otherwise.

A model trained on the cache records the contract in its checkpoint, ``meta["crop_cache"]`` =
``{"size", "depth_size", "jpeg_quality", "resize"}`` (:meth:`CropCacheSpec.to_meta`), and predict
makes its inputs from a live frame the way the cache made the training faces
(:func:`imitate_entry`): a face cropped straight to the input size looks different to the
network (no JPEG blocks, other aliasing).
"""

from __future__ import annotations

import numbers
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import fileio
from .crop import (
    CACHE_DEPTH_SIZE,
    CACHE_FACE_SIZE,
    CACHE_JPEG_QUALITY,
    RESIZE_MODES,
    TEST_CROP_SCALE,
    Box,
    crop_face,
    crop_face_and_depth,
)

# The depth crops are resized bilinearly (crop_face's default), whatever the face resize mode.
DEPTH_INTERPOLATION = cv2.INTER_LINEAR
# meta["crop_cache"] key -> field of CropCacheSpec (the keys are fixed by the checkpoints already written)
META_KEYS = {"size": "face_size", "depth_size": "depth_size", "jpeg_quality": "jpeg_quality", "resize": "resize"}


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class CropCacheSpec:
    """How the cache's entries are made and read; the defaults are ``data.crop``'s."""

    face_size: int = CACHE_FACE_SIZE  # side of the stored face images
    depth_size: int = CACHE_DEPTH_SIZE  # side of the stored depth crops
    jpeg_quality: int = CACHE_JPEG_QUALITY  # JPEG quality of the face images
    resize: str = "linear"  # how a loader resizes a face to the input size (a RESIZE_MODES key)
    scale: float = TEST_CROP_SCALE  # box scale around its centre

    def __post_init__(self) -> None:
        for name, high in (("face_size", None), ("depth_size", None), ("jpeg_quality", 100)):
            value = getattr(self, name)
            if not _is_int(value) or value < 1 or (high is not None and value > high):
                wanted = "a positive integer" if high is None else f"an integer in 1..{high}"
                raise ValueError(f"{name} must be {wanted}, got {value!r}")
            object.__setattr__(self, name, int(value))  # numpy integers too: cv2 and the JSON meta want ints
        if not isinstance(self.resize, str) or self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {self.resize!r}")
        if not isinstance(self.scale, numbers.Real) or not self.scale > 0:
            raise ValueError(f"scale must be a positive number, got {self.scale!r}")
        object.__setattr__(self, "scale", float(self.scale))

    def to_meta(self) -> dict[str, Any]:
        """The checkpoint's ``meta["crop_cache"]`` (the scale is the checkpoint's ``crop_scale``)."""
        return {key: getattr(self, name) for key, name in META_KEYS.items()}

    @classmethod
    def from_meta(cls, cache_meta: Mapping[str, Any] | None, scale: float = TEST_CROP_SCALE,
                  source: str = "checkpoint") -> CropCacheSpec | None:
        """The spec a checkpoint's ``meta["crop_cache"]`` records; ``None`` when it has none (no cache).

        ``scale`` is the checkpoint's test crop scale, the scale its cache was cut at. The error
        names ``source`` (the checkpoint file) and the key that is missing or wrong.
        """
        if not cache_meta:
            return None
        if not isinstance(cache_meta, Mapping):
            raise ValueError(f"{source}: meta 'crop_cache' must be a mapping, got {cache_meta!r}")
        missing = [key for key in META_KEYS if key not in cache_meta]
        if missing:
            raise ValueError(f"{source}: meta 'crop_cache' lacks {', '.join(missing)} "
                             f"(has: {', '.join(sorted(cache_meta))})")
        try:
            return cls(scale=float(scale), **{name: cache_meta[key] for key, name in META_KEYS.items()})
        except ValueError as e:
            raise ValueError(f"{source}: meta 'crop_cache': {e}") from e


CROP_CACHE = CropCacheSpec()  # the contract data.crop writes by default


def drawn_scale(scales: Sequence[float], seed: int, video: str, index: int) -> float:
    """The box scale of frame ``index`` of ``video`` in a cache cut at random scales (``data.crop --scales``).

    One draw per frame, made when the cache is cut, as the original DUM's training crop
    (``randint(12, 15) / 10``); it depends on ``(seed, video, frame)`` only, so a resumed or
    sharded run cuts every frame as an uninterrupted one.
    """
    if not scales:
        raise ValueError("no crop scales to draw from")
    rng = np.random.default_rng([int(seed), zlib.crc32(video.encode("utf-8")), int(index)])
    return float(scales[int(rng.integers(len(scales)))])


# ------------------------------------------------------------------------------------ writing
def entry_paths(root: str | Path, video: str, index: int) -> tuple[Path, Path]:
    """``(face JPEG, depth PNG)`` paths of frame ``index`` (1-based) of ``video`` in the cache at ``root``."""
    return fileio.frame_path(root, video, index, "jpg"), fileio.depth_path(root, video, index, "png")


def crop_entry(frame_bgr: np.ndarray, depth: np.ndarray | None, box: Box, spec: CropCacheSpec = CROP_CACHE
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """The face (BGR, ``face_size``) and depth crop (``depth_size``, or ``None`` without a map) before storing."""
    return crop_face_and_depth(frame_bgr, depth, box, scale=spec.scale, image_size=spec.face_size,
                               depth_size=spec.depth_size)


def encode_face(face_bgr: np.ndarray, spec: CropCacheSpec = CROP_CACHE) -> bytes:
    """The JPEG bytes the cache stores for a face crop."""
    ok, buf = cv2.imencode(".jpg", face_bgr, [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality])
    if not ok:
        raise OSError(f"could not encode a {face_bgr.shape} face crop as JPEG")
    return buf.tobytes()


def write_entry(face_path: str | Path, depth_path: str | Path, frame_bgr: np.ndarray, depth: np.ndarray | None,
                box: Box, spec: CropCacheSpec = CROP_CACHE) -> bool:
    """Crop a frame (and its depth map) and store the entry atomically; ``True`` when a depth crop was written."""
    face, depth_crop = crop_entry(frame_bgr, depth, box, spec)
    fileio.atomic_write_bytes(face_path, encode_face(face, spec))
    if depth_crop is None:
        return False
    fileio.write_image(depth_path, depth_crop)
    return True


# ------------------------------------------------------------------------------------ reading
def resize_face(face: np.ndarray, wh: tuple[int, int], mode: str) -> np.ndarray:
    """A stored face at ``(width, height)`` with a ``RESIZE_MODES`` mode; untouched when already that size."""
    if face.shape[1::-1] == tuple(wh):
        return face
    return cv2.resize(face, tuple(wh), interpolation=RESIZE_MODES[mode])


def resize_depth(depth: np.ndarray, map_size: int) -> np.ndarray:
    """A stored depth crop at ``map_size`` x ``map_size``: averaged when shrunk, bilinear when enlarged."""
    return resize_face(depth, (map_size, map_size), "area" if map_size < depth.shape[0] else "linear")


def read_entry(face_path: str | Path, depth_path: str | Path | None, input_size: int, map_size: int,
               spec: CropCacheSpec = CROP_CACHE) -> tuple[np.ndarray, np.ndarray | None]:
    """``(face BGR uint8 [S, S, 3], depth uint8 [m, m] or None)`` of an entry read at input size ``S``.

    ``depth_path=None`` reads the face only. Only ``spec.resize`` matters here: the stored sizes
    are whatever the files hold.
    """
    face = resize_face(fileio.read_image(face_path), (input_size, input_size), spec.resize)
    if depth_path is None:
        return face, None
    return face, resize_depth(fileio.read_image(depth_path, grey=True), map_size)


# ---------------------------------------------------------------------------------- imitating
def imitate_entry(frame_rgb: np.ndarray, box: Box, input_wh: tuple[int, int], spec: CropCacheSpec = CROP_CACHE
                  ) -> np.ndarray:
    """A live frame's face as a loader would have read its cache entry: RGB uint8 at ``input_wh``.

    Cropped at the cache size, JPEG encoded and decoded in BGR (the chroma planes depend on the
    channel order) as the stored file, then resized as :func:`read_entry` resizes it.
    """
    face_bgr = cv2.cvtColor(crop_face(frame_rgb, box, spec.scale, spec.face_size), cv2.COLOR_RGB2BGR)
    stored = cv2.imdecode(np.frombuffer(encode_face(face_bgr, spec), np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(resize_face(stored, input_wh, spec.resize), cv2.COLOR_BGR2RGB)
