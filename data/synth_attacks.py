"""Presentation attack instruments of the synthetic OULU-NPU (docs/data.md, "Synthetic OULU-NPU").

* Print attacks (OULU file codes 2, 3 = printer 1, 2): a photo of the subject with a reduced
  gamut and a printer tint, paper texture, a white border, and a halftone screen evaluated at
  every camera pixel's position on the paper (so it aliases into moiré like a real one).
* Replay attacks (codes 4, 5 = display 1, 2): the subject's video on a screen with a gamma,
  brightness and colour shift, a sub-pixel grid (moiré), a bezel and a reflection.

Two strengths scale the artefacts: ``texture`` (halftone, paper fibres, pixel grid, border,
bezel, reflection) and ``colour`` (gamut, tint, gamma, brightness). :mod:`data.synth` sets
``texture = 1 - difficulty`` and ``colour = texture ** 2``, so that at middle difficulties the
colour shifts are small against the natural variation of skin, light and camera while texture
cues remain; at strength 0 a print or a screen looks exactly like the scene it shows, and only
its rigid planar motion gives it away.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .synth_render import PlaneView


@dataclass(frozen=True)
class Printer:
    name: str
    tint: tuple[float, float, float]
    halftone_period: float  # in content pixels
    halftone_angles: tuple[float, float, float]  # degrees, per RGB channel (C, M, Y screens)
    black: float  # black level lift at full strength
    white: float  # paper white loss at full strength
    saturation: float  # saturation loss at full strength


@dataclass(frozen=True)
class Display:
    name: str
    gamma: float  # exponent at full strength
    gain: float
    black: float
    tint: tuple[float, float, float]
    grid_period: float  # sub-pixel period in content pixels
    reflection: float


PRINTERS = {
    2: Printer("printer 1", (1.0, 0.96, 0.86), 1.7, (15.0, 75.0, 0.0), 0.08, 0.10, 0.35),
    3: Printer("printer 2", (0.92, 0.95, 1.0), 2.3, (45.0, 15.0, 75.0), 0.11, 0.06, 0.25),
}
DISPLAYS = {
    4: Display("display 1", 1.35, 1.08, 0.04, (0.92, 0.97, 1.08), 1.15, 0.18),
    5: Display("display 2", 0.78, 0.95, 0.06, (1.05, 1.0, 0.92), 1.4, 0.12),
}


def print_content(photo: np.ndarray, printer: Printer, texture: float, colour: float,
                  rng: np.random.Generator) -> np.ndarray:
    """The printed sheet in content pixels: gamut, tint, paper texture and a white border."""
    a = colour
    lum = photo.mean(-1, keepdims=True)
    img = lum + (photo - lum) * (1.0 - printer.saturation * a)
    img = printer.black * a + (1.0 - printer.white * a - printer.black * a) * img
    img = img * (1.0 + a * (np.asarray(printer.tint, np.float32) - 1.0))
    fibres = cv2.GaussianBlur(rng.standard_normal(img.shape[:2], dtype=np.float32), (0, 0), 0.8)
    img = img * (1.0 + 0.06 * texture * fibres / (fibres.std() + 1e-6))[..., None]
    border = int(round(0.09 * texture * img.shape[1]))
    if border:
        img = cv2.copyMakeBorder(img, border, border, border, border, cv2.BORDER_CONSTANT,
                                 value=(0.93, 0.93, 0.91))
    return np.clip(img, 0, 1).astype(np.float32)


def halftone(rgb: np.ndarray, view: PlaneView, printer: Printer, strength: float) -> np.ndarray:
    """Mix in an amplitude-modulated halftone screen, evaluated where each pixel hits the paper."""
    w = 0.55 * strength
    if w <= 0:
        return rgb
    out = rgb.copy()
    for c, angle in enumerate(printer.halftone_angles):
        t = np.radians(angle)
        u = view.cu * np.cos(t) + view.cv * np.sin(t)
        v = -view.cu * np.sin(t) + view.cv * np.cos(t)
        k = 2.0 * np.pi / printer.halftone_period
        screen = 0.5 + 0.25 * (np.cos(k * u) + np.cos(k * v))
        dots = np.clip((rgb[..., c] - 1.0 + screen) * 6.0 + 0.5, 0, 1)  # ink where darkness > screen
        out[..., c] = rgb[..., c] + w * (dots - rgb[..., c])
    return out


def display_content(frame: np.ndarray, display: Display, texture: float, colour: float) -> np.ndarray:
    """The screen image in content pixels: display transfer curve, tint and a dark bezel."""
    a = colour
    img = np.clip(frame, 0, 1) ** (1.0 + a * (display.gamma - 1.0))
    img = img * (1.0 + a * (display.gain - 1.0)) + display.black * a
    img = img * (1.0 + a * (np.asarray(display.tint, np.float32) - 1.0))
    bezel = int(round(0.08 * texture * img.shape[1]))
    if bezel:
        img = cv2.copyMakeBorder(img, bezel, bezel, bezel, bezel, cv2.BORDER_CONSTANT, value=(0.03, 0.03, 0.035))
    return np.clip(img, 0, 1).astype(np.float32)


def pixel_grid(rgb: np.ndarray, view: PlaneView, display: Display, strength: float) -> np.ndarray:
    """RGB sub-pixel stripes and row gaps sampled at the camera pixels (moiré)."""
    w = 0.45 * strength
    if w <= 0:
        return rgb
    k = 2.0 * np.pi / display.grid_period
    rows = 0.6 + 0.4 * np.cos(k * view.cv)
    out = np.empty_like(rgb)
    for c in range(3):
        out[..., c] = rgb[..., c] * (1.0 + w * np.cos(k * view.cu - 2.0 * np.pi * c / 3.0) * rows)
    return out


def reflection(view: PlaneView, focal: float, amount: float) -> np.ndarray:
    """A soft highlight (a lamp or window mirrored in the glossy surface) that slides as it turns."""
    height, width = view.cu.shape
    if amount <= 0:
        return np.zeros((height, width), np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # A mirror turned by an angle moves the reflected light by twice that angle.
    cx = width * 0.32 + 2.0 * focal * float(view.normal[0])
    cy = height * 0.28 + 2.0 * focal * float(view.normal[1])
    blob = np.exp(-(((xx - cx) / (0.35 * width)) ** 2 + ((yy - cy) / (0.25 * height)) ** 2))
    return (amount * blob * view.rgba[..., 3]).astype(np.float32)
