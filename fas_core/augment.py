"""Training augmentations of CDCN/DUM and FAS-SGTD in plain numpy (docs/methods/dum.md, docs/methods/fas_sgtd.md).

The originals use imgaug, which no longer works with numpy 2. Every function takes an explicit
``numpy.random.Generator`` so that each sample's augmentation is reproducible from its seed.
Images are HxWx3 uint8 (or float) arrays; depth labels HxW, flipped together with the image.
"""

from __future__ import annotations

import numpy as np


def brightness_contrast(image: np.ndarray, rng: np.random.Generator, brightness: float = 40.0,
                        contrast: tuple[float, float] = (0.5, 1.5), per_channel: bool = True,
                        gamma_per_channel: bool | None = None) -> np.ndarray:
    """Additive brightness in [-b, b] then gamma contrast in ``contrast`` (CDCN/DUM).

    ``per_channel``: one brightness offset per channel (the originals' imgaug ``Add``, ``per_channel=True``).
    ``gamma_per_channel``: one gamma per channel, or one for the whole image (``False``: the originals'
    imgaug ``GammaContrast``, whose ``per_channel`` defaults to false); ``None`` follows ``per_channel``.
    """
    img = image.astype(np.float32)
    gamma_per_channel = per_channel if gamma_per_channel is None else gamma_per_channel
    img = np.clip(img + rng.uniform(-brightness, brightness, size=_draw_shape(img, per_channel)), 0, 255)
    gamma = rng.uniform(*contrast, size=_draw_shape(img, gamma_per_channel))
    img = 255.0 * (img / 255.0) ** gamma
    return img.astype(np.float32)


def _draw_shape(img: np.ndarray, per_channel: bool) -> tuple[int, ...]:
    return (1, 1, img.shape[2]) if per_channel and img.ndim == 3 else (1,)


def linear_contrast(image: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """FAS-SGTD's ``clip(alpha * img + beta)`` (alpha U(0.5, 1.5), beta randint(-40, 40))."""
    return np.clip(alpha * image.astype(np.float32) + beta, 0, 255)


def hflip(image: np.ndarray, depth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Horizontal flip of an image and its depth label together."""
    image = image[:, ::-1].copy()
    return image, (depth[:, ::-1].copy() if depth is not None else None)


def cutout(image: np.ndarray, rng: np.random.Generator, max_side: int = 49, fill: float = 0.0) -> np.ndarray:
    """Zero one square of side randint(1, max_side) centred at a random pixel (clipped to the image)."""
    h, w = image.shape[:2]
    side = int(rng.integers(1, max_side + 1))
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    y0, y1 = max(cy - side // 2, 0), min(cy - side // 2 + side, h)
    x0, x1 = max(cx - side // 2, 0), min(cx - side // 2 + side, w)
    out = image.copy()
    out[y0:y1, x0:x1] = fill
    return out


def random_erasing(image: np.ndarray, rng: np.random.Generator, p: float = 0.5, max_patches: int = 2,
                   area: tuple[float, float] = (0.01, 0.05), aspect: tuple[float, float] = (0.5, 2.0),
                   fill: str = "mean") -> np.ndarray:
    """With probability ``p`` erase 1..``max_patches`` rectangles of 1-5% of the area, aspect 0.5-2.

    ``fill``: ``mean``, the image mean per channel (it keeps the statistics of the picture), or
    ``zero``, what the originals get: their fill values (channel means of images in [0, 1]) are
    written into a uint8 image and become 0.
    """
    if fill not in ("mean", "zero"):
        raise ValueError(f"random erasing fill must be 'mean' or 'zero', got {fill!r}")
    if rng.random() >= p:
        return image
    out = image.astype(np.float32).copy()
    h, w = out.shape[:2]
    fill_value = out.reshape(-1, out.shape[2]).mean(0) if out.ndim == 3 else out.mean()
    if fill == "zero":
        fill_value = np.zeros_like(fill_value)
    for _ in range(int(rng.integers(1, max_patches + 1))):
        for _attempt in range(10):
            a = rng.uniform(*area) * h * w
            r = rng.uniform(*aspect)
            eh, ew = int(round(np.sqrt(a * r))), int(round(np.sqrt(a / r)))
            if 0 < eh < h and 0 < ew < w:
                y, x = int(rng.integers(0, h - eh)), int(rng.integers(0, w - ew))
                out[y:y + eh, x:x + ew] = fill_value
                break
    return out


def normalise(image_rgb: np.ndarray, mean: float, std: float) -> np.ndarray:
    """``(x - mean) / std`` as float32 CHW (CDCN: 127.5 / 128; FAS-SGTD: 127.5 / 255)."""
    return ((image_rgb.astype(np.float32) - mean) / std).transpose(2, 0, 1).copy()
