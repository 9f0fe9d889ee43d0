"""The offline crop cache's contract: how ``data.crop`` stores faces and how readers use them.

The cache holds, per frame, a face cut at the test crop scale and resized to ``size`` (JPEG,
``jpeg_quality``) and the depth map cut with the same box at ``depth_size`` (PNG). A loader
resizes both to the network's input (``resize`` for the face). A model trained on the cache
records its :class:`CropCacheSpec` in the checkpoint, so that predict makes a live face's input
the same way (docs/data.md, "Crop cache").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import cv2

RESIZE_MODES = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}  # a cached face resized to the input size


@dataclass(frozen=True)
class CropCacheSpec:
    size: int = 256  # side of the cached face images
    depth_size: int = 32  # side of the cached depth crops
    jpeg_quality: int = 95  # JPEG quality of the face images
    resize: str = "linear"  # how a reader resizes a cached face to its input size

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"crop cache resize must be one of {', '.join(RESIZE_MODES)}, got {self.resize!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CropCacheSpec:
        return cls(size=int(d.get("size", 256)), depth_size=int(d.get("depth_size", 32)),
                   jpeg_quality=int(d.get("jpeg_quality", 95)), resize=str(d.get("resize", "linear")))


DEFAULT_SPEC = CropCacheSpec()
