"""Face cropping shared by every loader and stage (docs/data.md, step 4).

The box is the CDCN/FAS-SGTD ``(x, y, w, h)``: top-left corner and size in pixels of the
full frame. Cropping scales the box around its centre and clamps it to the image, so a
face near the border gives a smaller (never padded) crop, as the original code does.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]


TEST_CROP_SCALE = 1.3  # the test crop of both papers: the box scaled by 1.3 around its centre
# Defaults of the offline crop cache: fas_core.crop_cache.CROP_CACHE, with the cache's writer and readers.
CACHE_FACE_SIZE = 256  # side of the cache's face images (data.crop)
CACHE_DEPTH_SIZE = 32  # side of its depth crops
CACHE_JPEG_QUALITY = 95  # JPEG quality of its face images
RESIZE_MODES = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}  # resizing a cached face to the input size
# Interpolations a loader may resize a crop with: cv2's, and the filters of Pillow's Image.resize that
# the TensorFlow originals relied on (its default: NEAREST before Pillow 7, BICUBIC since).
# cv2's INTER_NEAREST_EXACT picks the same source pixels as Pillow's NEAREST; BICUBIC is Pillow's own.
INTERPOLATIONS = ("linear", "area", "pil_nearest", "pil_bicubic")


def scale_box(box: Box, scale_w: float, scale_h: float | None = None) -> Box:
    """Scale ``(x, y, w, h)`` around its centre by ``scale_w`` (width) and ``scale_h`` (height)."""
    x, y, w, h = box
    scale_h = scale_w if scale_h is None else scale_h
    cx, cy = x + w / 2.0, y + h / 2.0
    nw, nh = w * scale_w, h * scale_h
    return cx - nw / 2.0, cy - nh / 2.0, nw, nh


def widen_box(box: Box, left: float, top: float, right: float, bottom: float) -> Box:
    """Widen each side by the given fraction of the box size (FAS-SGTD's random crop)."""
    x, y, w, h = box
    return x - left * w, y - top * h, w * (1 + left + right), h * (1 + top + bottom)


def random_widen_fractions(rng: np.random.Generator, low: float = 0.1, high: float = 0.4) -> tuple[float, ...]:
    """FAS-SGTD train crop: each side widened by U(low, high) / 2 of the box size, independently."""
    return tuple(float(v) for v in rng.uniform(low, high, size=4) / 2.0)


def clamp_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """Round to integer pixel bounds ``(x0, y0, x1, y1)`` inside a ``width x height`` image.

    Always at least one pixel wide and high, so a box entirely outside the frame still
    yields a valid (tiny) crop rather than an empty array.
    """
    x, y, w, h = box
    x0 = int(np.clip(np.floor(x), 0, width - 1))
    y0 = int(np.clip(np.floor(y), 0, height - 1))
    x1 = int(np.clip(np.ceil(x + w), x0 + 1, width))
    y1 = int(np.clip(np.ceil(y + h), y0 + 1, height))
    return x0, y0, x1, y1


def crop_region(image: np.ndarray, box: Box) -> np.ndarray:
    """Crop ``image`` (H x W [x C]) to ``box`` after clamping; returns a view."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = clamp_box(box, w, h)
    return image[y0:y1, x0:x1]


def crop_face(image: np.ndarray, box: Box, scale: float = TEST_CROP_SCALE, size: int | tuple[int, int] | None = None,
              interpolation: int | None = None) -> np.ndarray:
    """Scale ``box`` by ``scale`` around its centre, clamp, crop and (optionally) resize.

    ``size`` is an int (square) or ``(width, height)``; bilinear (cv2.INTER_LINEAR) by default.
    """
    crop = crop_region(image, scale_box(box, scale))
    if size is None:
        return crop
    dsize = (size, size) if isinstance(size, int) else tuple(size)
    return cv2.resize(crop, dsize, interpolation=cv2.INTER_LINEAR if interpolation is None else interpolation)


def crop_face_and_depth(image: np.ndarray, depth: np.ndarray | None, box: Box, scale: float = TEST_CROP_SCALE,
                        image_size: int = CACHE_FACE_SIZE, depth_size: int = CACHE_DEPTH_SIZE
                        ) -> tuple[np.ndarray, np.ndarray | None]:
    """Crop a frame and its frame-sized depth map with the same box (depth may be ``None``)."""
    face = crop_face(image, box, scale, image_size)
    if depth is None:
        return face, None
    if depth.shape[:2] != image.shape[:2]:
        raise ValueError(
            f"depth map size {depth.shape[1]}x{depth.shape[0]} differs from frame size "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    return face, crop_face(depth, box, scale, depth_size)


def resize_image(image: np.ndarray, wh: tuple[int, int], mode: str) -> np.ndarray:
    """``image`` (H x W [x 3]) resized to ``(width, height)`` with one of :data:`INTERPOLATIONS`."""
    if mode == "pil_bicubic":
        if image.dtype != np.uint8:
            raise ValueError(f"pil_bicubic resizes 8-bit images, got {image.dtype}")
        return np.asarray(Image.fromarray(image).resize(tuple(wh), Image.Resampling.BICUBIC))
    flags = {**RESIZE_MODES, "pil_nearest": cv2.INTER_NEAREST_EXACT}
    if mode not in flags:
        raise ValueError(f"unknown interpolation {mode!r}; valid: {', '.join(INTERPOLATIONS)}")
    return cv2.resize(image, tuple(wh), interpolation=flags[mode])
