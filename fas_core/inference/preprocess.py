"""Model inputs from a frame and its face boxes: crops, normalisation, the face depth maps that mask scores."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from ..crop import crop_face
from ..crop_cache import DEPTH_INTERPOLATION, CropCacheSpec, imitate_entry
from ..face_depth import face_depth_crop


def normalise(crops: np.ndarray, norm: Mapping[str, Any]) -> np.ndarray:
    """RGB uint8 crops ``[..., H, W, 3]`` -> float32 ``[..., 3, H, W]`` as ``meta["normalisation"]``.

    ``mean``/``std`` are in 0-255 pixel units, per channel in the model's channel order (RGB when
    ``rgb`` is true, else BGR); CDCN/DUM use ``(x - 127.5) / 128``, FAS-SGTD ``(x - 127.5) / 255``.
    """
    x = np.asarray(crops, dtype=np.float32)
    if not norm.get("rgb", True):
        x = x[..., ::-1]
    mean = np.asarray(norm.get("mean", 0.0), dtype=np.float32)
    std = np.asarray(norm.get("std", 1.0), dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(np.moveaxis(x, -1, -3))


def crop_faces(frame_rgb: np.ndarray, boxes: Sequence[Sequence[float]], scale: float, hw: tuple[int, int],
               cache: CropCacheSpec | None = None) -> np.ndarray:
    """Crops ``[N, H, W, 3]`` (uint8) of ``boxes`` scaled by ``scale`` around their centres.

    ``cache`` (the crop cache a model was trained on) makes them as that model saw its faces:
    each crop is the cache entry a loader would have read (:func:`fas_core.crop_cache.imitate_entry`).
    """
    h, w = hw
    if not boxes:
        return np.zeros((0, h, w, 3), np.uint8)
    if cache is None:
        return np.stack([crop_face(frame_rgb, tuple(b), scale, (w, h)) for b in boxes])
    cut = dataclasses.replace(cache, scale=scale)  # the caller's scale wins, as for a direct crop
    return np.stack([imitate_entry(frame_rgb, tuple(b), (w, h), cut) for b in boxes])


def face_depth_maps(frame_size: tuple[int, int], boxes: Sequence[Sequence[float]],
                    landmarks: Sequence[np.ndarray | None], scale: float, hw: tuple[int, int],
                    cache: CropCacheSpec | None = None) -> np.ndarray:
    """``[N, h, w]`` float32 built-in depth maps of the faces (frame ``(width, height)``), cropped like the input.

    The method masks its score with them as ``test.py`` masked with the split's depth maps, so
    that scores meet the checkpoint's dev threshold (fas_core/methods.py). Without a cache they
    are cropped to the input size with area averaging, as the FAS-SGTD loaders shrink frame-sized
    depth maps; with one, as the cache's depth crops (its depth size, bilinear).
    """
    h, w = hw
    interpolation = cv2.INTER_AREA
    if cache is not None:
        h = w = cache.depth_size
        interpolation = DEPTH_INTERPOLATION
    maps = [face_depth_crop(frame_size, box, marks, scale, (w, h), interpolation)
            for box, marks in zip(boxes, landmarks, strict=True)]
    return np.stack(maps) if maps else np.zeros((0, h, w), np.float32)
