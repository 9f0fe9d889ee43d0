"""Synthetic identities for the synthetic OULU-NPU (docs/data.md, "Synthetic OULU-NPU").

Every subject is built from one real, public-domain portrait shipped with scikit-image
(``skimage.data.astronaut()``, a NASA photograph) so that face detectors trained on real faces
(MTCNN) find the synthetic faces. Identities differ by

* geometry: face width and length, eye spacing, nose length, mouth and jaw width (a smooth warp
  of the texture), mirrored or not, and the 3D shape (head depth, nose height and width, brow,
  cheeks, chin);
* appearance: skin tone, hair colour and length, eyebrow darkness, lip tint, beard or stubble,
  glasses, moles and a skin mottling.

The 3D head is a height field ``z = h(x, y)`` over canonical face coordinates (origin between
the eyes, unit = inter-ocular distance, ``y`` down): a flattened ellipsoid plus nose, brow,
eye sockets, cheeks, lips and chin. :func:`build_head` samples it on a dense grid and returns a
point cloud (position, normal, albedo, face flag) that :mod:`data.synth_render` splats with a
z-buffer under any head pose, so depth and motion parallax are real.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass

import cv2
import numpy as np

# ----------------------------------------------------------------------------- the source portrait
# Five MTCNN landmarks of skimage.data.astronaut() (left eye, right eye, nose, mouth left, mouth
# right), measured once with facenet-pytorch's MTCNN; they fix the canonical face frame.
SOURCE_LANDMARKS = np.array(
    [[205.0, 101.7], [246.8, 103.7], [224.7, 129.0], [201.7, 139.2], [245.3, 141.9]], np.float64
)
# Outline of the head (hair and face, without neck) and of the face skin below the hairline, in
# pixels of the 512x512 portrait, traced by hand.
HEAD_POLYGON = np.array(
    [(225, 13), (245, 15), (262, 21), (278, 32), (290, 46), (298, 62), (302, 78), (301, 95), (297, 110),
     (290, 122), (279, 128), (271, 126), (268, 140), (264, 152), (257, 164), (247, 176), (234, 184),
     (221, 186), (208, 182), (197, 172), (190, 160), (185, 146), (182, 132), (170, 125), (160, 114),
     (154, 95), (155, 75), (160, 58), (170, 45), (185, 31), (200, 21), (212, 15)], np.int32)
FACE_POLYGON = np.array(
    [(186, 93), (196, 89), (208, 86), (222, 84), (236, 85), (250, 88), (262, 93), (269, 103), (271, 115),
     (271, 128), (268, 140), (264, 152), (257, 164), (247, 176), (234, 184), (221, 186), (208, 182),
     (197, 172), (190, 160), (185, 146), (182, 132), (182, 118), (184, 104)], np.int32)
SOURCE_BROWS = ((203.0, 90.0), (248.0, 91.5))  # eyebrow centres
SOURCE_MOUTH = (224.0, 145.0)  # mouth centre; lips half-axes about 22 x 8 px

_EYE_MID = SOURCE_LANDMARKS[:2].mean(0)
_IOD = float(np.linalg.norm(SOURCE_LANDMARKS[1] - SOURCE_LANDMARKS[0]))
_TILT = float(np.arctan2(*(SOURCE_LANDMARKS[1] - SOURCE_LANDMARKS[0])[::-1]))

# Canonical extent of the head (x right, y down; IOD units) and the MTCNN-like face box.
CANON_X = (-1.95, 2.0)
CANON_Y = (-2.25, 2.1)
FACE_BOX_CANON = (-1.07, -0.97, 1.0, 1.66)  # x0, y0, x1, y1 of MTCNN's box on the portrait
NOSE_TIP_CANON = (0.0, 0.58)

SKIN_TONES = (  # target mean skin colour (RGB, 0-1), light to dark
    (0.86, 0.70, 0.60), (0.80, 0.64, 0.52), (0.74, 0.56, 0.43), (0.66, 0.49, 0.36),
    (0.56, 0.39, 0.28), (0.44, 0.30, 0.22),
)
HAIR_COLOURS = (
    (0.10, 0.08, 0.07), (0.22, 0.15, 0.10), (0.38, 0.26, 0.16), (0.66, 0.52, 0.32),
    (0.45, 0.22, 0.12), (0.55, 0.55, 0.55),
)


def derive_seed(*keys: object) -> int:
    """A 63-bit seed from any keys (stable across runs and machines, unlike ``hash``)."""
    text = "/".join(str(k) for k in keys).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


def canonical_to_source(cx: np.ndarray, cy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical face coordinates -> pixel coordinates of the portrait."""
    c, s = np.cos(_TILT), np.sin(_TILT)
    return (_EYE_MID[0] + _IOD * (c * cx - s * cy)).astype(np.float32), \
        (_EYE_MID[1] + _IOD * (s * cx + c * cy)).astype(np.float32)


@functools.lru_cache(maxsize=1)
def source_assets() -> dict[str, np.ndarray]:
    """The portrait as float RGB in [0, 1] and its soft head / face / skin-chroma masks."""
    from skimage import data as skdata

    img = skdata.astronaut().astype(np.float32) / 255.0
    h, w = img.shape[:2]
    head = np.zeros((h, w), np.uint8)
    face = np.zeros((h, w), np.uint8)
    cv2.fillPoly(head, [HEAD_POLYGON], 255, lineType=cv2.LINE_AA)
    cv2.fillPoly(face, [FACE_POLYGON], 255, lineType=cv2.LINE_AA)
    face_soft = cv2.GaussianBlur(face.astype(np.float32) / 255.0, (0, 0), 2.0)
    ycc = cv2.cvtColor((img * 255).astype(np.uint8), cv2.COLOR_RGB2YCrCb).astype(np.float32)
    # Skin has a high red chroma; teeth and eye whites do not, so a recolouring weighted by it
    # changes the skin tone without staining the teeth.
    chroma = np.clip((ycc[..., 1] - 136.0) / 10.0, 0.0, 1.0)
    skin_w = face_soft * chroma
    hair_w = (head.astype(np.float32) / 255.0) * (1.0 - cv2.GaussianBlur(face.astype(np.float32) / 255.0,
                                                                          (0, 0), 1.0))
    skin_mean = (img * skin_w[..., None]).sum((0, 1)) / skin_w.sum()
    lum = img.mean(-1)
    hair_lum = float((lum * hair_w).sum() / hair_w.sum())
    return {"image": img, "head": head.astype(np.float32) / 255.0, "face": face_soft, "skin_w": skin_w,
            "hair_w": hair_w, "skin_mean": skin_mean.astype(np.float32), "hair_lum": np.float32(hair_lum)}


# ----------------------------------------------------------------------------- identities
@dataclass(frozen=True)
class Identity:
    """All parameters of one synthetic subject (saved in ``synth_meta.json``)."""

    user: int
    mirror: bool
    skin_rgb: tuple[float, float, float]
    hair_rgb: tuple[float, float, float]
    shirt_rgb: tuple[float, float, float]
    short_hair: bool
    width: float  # face width scale
    length: float  # face length scale
    eye_spread: float  # local warps (canonical units)
    nose_length: float
    mouth_width: float
    jaw_width: float
    head_depth: float  # 3D shape (canonical units)
    nose_height: float
    nose_width: float
    brow_height: float
    cheek_height: float
    chin_height: float
    brow_dark: float  # appearance
    lip_tint: float
    beard: float
    glasses: bool
    n_moles: int
    texture_seed: int

    def to_json(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else
                    [round(x, 4) for x in v] if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def _jitter_rgb(rng: np.random.Generator, rgb: tuple[float, ...], amount: float) -> tuple[float, float, float]:
    out = np.clip(np.asarray(rgb) * rng.uniform(1 - amount, 1 + amount, 3), 0.02, 0.98)
    return tuple(float(v) for v in out)


def make_identity(seed: int, user: int) -> Identity:
    """The deterministic identity of ``user`` (1-55) for a dataset ``seed``."""
    rng = np.random.default_rng(derive_seed(seed, "identity", user))
    tone = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
    u = rng.uniform
    return Identity(
        user=user,
        mirror=bool(rng.integers(2)),
        skin_rgb=_jitter_rgb(rng, tone, 0.05),
        hair_rgb=_jitter_rgb(rng, HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))], 0.1),
        shirt_rgb=tuple(float(v) for v in u(0.1, 0.9, 3)),
        short_hair=bool(rng.random() < 0.4),
        width=float(u(0.92, 1.08)), length=float(u(0.94, 1.06)),
        eye_spread=float(u(-0.06, 0.06)), nose_length=float(u(-0.08, 0.08)),
        mouth_width=float(u(-0.12, 0.12)), jaw_width=float(u(-0.1, 0.12)),
        head_depth=float(u(1.5, 1.9)), nose_height=float(u(0.36, 0.55)), nose_width=float(u(0.85, 1.2)),
        brow_height=float(u(0.03, 0.1)), cheek_height=float(u(0.05, 0.14)), chin_height=float(u(0.06, 0.16)),
        brow_dark=float(u(0.0, 0.5)), lip_tint=float(u(0.0, 0.4)),
        beard=float(u(0.3, 0.7)) if rng.random() < 0.25 else 0.0,
        glasses=bool(rng.random() < 0.2),
        n_moles=int(rng.integers(0, 4)),
        texture_seed=int(rng.integers(2**31)),
    )


# ----------------------------------------------------------------------------- texture
def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def identity_texture(ident: Identity) -> np.ndarray:
    """The portrait recoloured and decorated for one identity (float RGB, portrait pixels)."""
    src = source_assets()
    img = src["image"].copy()
    rng = np.random.default_rng(ident.texture_seed)
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # Skin tone: per-channel gain that takes the portrait's mean skin colour to the target one,
    # with a faint identity-specific mottling so that two subjects of one tone still differ.
    gain = np.asarray(ident.skin_rgb, np.float32) / src["skin_mean"]
    mottle = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 3.0)
    mottle = 1.0 + 0.04 * mottle / (mottle.std() + 1e-6)
    skin = img * gain * mottle[..., None]
    img = img + (skin - img) * src["skin_w"][..., None]
    # Hair colour: keep the strands' luminance pattern, replace the colour.
    lum = img.mean(-1, keepdims=True) / src["hair_lum"]
    hair = np.clip(lum * np.asarray(ident.hair_rgb, np.float32), 0, 1)
    img = img + (hair - img) * src["hair_w"][..., None]
    # Eyebrows darker or lighter, lips tinted.
    for bx, by in SOURCE_BROWS:
        g = _gauss(xx, yy, bx, by, 11.0, 3.0)
        img *= (1.0 - ident.brow_dark * 0.6 * g)[..., None]
    lips = _gauss(xx, yy, SOURCE_MOUTH[0], SOURCE_MOUTH[1] + 3, 16.0, 5.0)
    img = img + (np.array([0.55, 0.18, 0.2], np.float32) - img) * (ident.lip_tint * 0.5 * lips)[..., None]
    if ident.beard > 0:  # stubble/beard: noisy darkening of the lower face in the hair colour
        lower = np.clip((yy - 128.0) / 10.0, 0, 1) * src["face"] * (1 - 0.9 * lips / lips.max())
        noise = np.clip(0.6 + 0.5 * rng.normal(0, 1, (h, w)).astype(np.float32), 0, 1)
        b = ident.beard * lower * cv2.GaussianBlur(noise, (0, 0), 0.7)
        img = img + (np.asarray(ident.hair_rgb, np.float32) * 0.8 - img) * b[..., None]
    for _ in range(ident.n_moles):  # small dark spots on the cheeks or forehead
        mx, my = rng.uniform(190, 262), rng.uniform(95, 170)
        if abs(my - SOURCE_MOUTH[1]) < 10 or abs(my - 102) < 7:
            continue
        g = _gauss(xx, yy, mx, my, 1.1, 1.1)
        img *= (1.0 - 0.45 * g * src["face"])[..., None]
    img = np.clip(img, 0, 1)
    if ident.glasses:
        u8 = (img * 255).astype(np.uint8)
        col = tuple(int(v) for v in rng.integers(10, 90, 3))
        for (ex, ey) in SOURCE_LANDMARKS[:2]:
            cv2.ellipse(u8, (int(ex), int(ey) + 1), (14, 10), 0, 0, 360, col, 2, cv2.LINE_AA)
        cv2.line(u8, (219, 102), (233, 103), col, 2, cv2.LINE_AA)
        img = u8.astype(np.float32) / 255.0
    return _fill_outside(img, src["head"])


def _fill_outside(img: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Replace the pixels at and outside the head outline by colours pulled from inside it.

    The outline of the portrait mixes hair with the studio backdrop; the head's silhouette
    samples those pixels, so they get nearby head colours instead (normalised convolution).
    """
    inner = cv2.erode((head > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(np.float32)
    num = cv2.GaussianBlur(img * inner[..., None], (0, 0), 3.0)
    den = cv2.GaussianBlur(inner, (0, 0), 3.0)[..., None]
    fill = num / np.maximum(den, 1e-4)
    return np.where(inner[..., None] > 0.5, img, np.where(den > 1e-3, fill, img)).astype(np.float32)


# ----------------------------------------------------------------------------- geometry
def warp_to_source(ident: Identity, cx: np.ndarray, cy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Identity canonical coordinates -> canonical coordinates of the portrait (face shape warp)."""
    x = cx / ident.width
    y = (cy - 0.6) / ident.length + 0.6
    x = x - ident.eye_spread * x * _gauss(cx, cy, 0.0, 0.0, 0.9, 0.35)
    y = y - ident.nose_length * _gauss(cx, cy, 0.0, 0.35, 0.35, 0.4)
    x = x - ident.mouth_width * x * _gauss(cx, cy, 0.0, 0.9, 0.8, 0.25)
    x = x - ident.jaw_width * x / (1.0 + np.exp(-(cy - 1.1) / 0.25))
    if ident.mirror:
        x = -x
    return x, y


def height_field(ident: Identity, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Face height (towards the camera, canonical units) at portrait canonical coordinates.

    A flattened ellipsoid (the skull; its front face is flatter than a sphere) plus a nose that
    rises from the bridge to the tip, eye sockets, brow ridge, cheeks, lips and chin. The nose
    tip is the highest point, as the true-depth convention needs.
    """
    x = np.abs(x)  # symmetric: mirroring the texture needs no change of shape
    r2 = (x / 1.95) ** 2 + ((y - 0.35) / 2.3) ** 2
    h = ident.head_depth * np.clip(1.0 - r2, 0.0, None) ** 0.6
    t = np.clip((y + 0.05) / (NOSE_TIP_CANON[1] + 0.05), 0.0, 1.0)
    along = np.where(y <= NOSE_TIP_CANON[1], 0.3 + 0.7 * t ** 1.5,
                     np.exp(-(((y - NOSE_TIP_CANON[1]) / 0.09) ** 2)))
    along = np.where(y < -0.05, 0.3 * np.exp(-(((y + 0.05) / 0.12) ** 2)), along)
    width = (0.08 + 0.09 * t) * ident.nose_width
    h = h + ident.nose_height * along * np.exp(-0.5 * (x / width) ** 2)
    h = h + 0.07 * _gauss(x, y, 0.17, 0.6, 0.07, 0.06)  # nostril wings
    h = h - 0.14 * _gauss(x, y, 0.5, 0.02, 0.2, 0.13)  # eye sockets
    h = h + ident.brow_height * np.exp(-0.5 * ((y + 0.32) / 0.1) ** 2) * np.exp(-((x / 0.85) ** 4))
    h = h + ident.cheek_height * _gauss(x, y, 0.62, 0.58, 0.28, 0.3)
    h = h + 0.06 * _gauss(x, y, 0.0, 0.92, 0.33, 0.1)  # lips
    h = h + ident.chin_height * _gauss(x, y, 0.0, 1.72, 0.35, 0.22)
    return h.astype(np.float32)


@dataclass
class HeadModel:
    """Point cloud of one identity's head in head-local coordinates (IOD units).

    ``points[:, 2]`` is ``-height`` (the camera looks along +z, the face looks towards -z).
    """

    points: np.ndarray  # N x 3 float32
    normals: np.ndarray  # N x 3 float32, unit, pointing out of the face (towards -z when frontal)
    albedo: np.ndarray  # N x 3 float32, RGB 0-1
    is_face: np.ndarray  # N bool: face skin region (where true depth is defined)
    in_box: np.ndarray  # N bool: inside the MTCNN-like face box
    nose_tip: np.ndarray  # 3, local coordinates of the nose tip
    max_height: float  # height of the nose tip above the base plane
    step: float  # grid step (IOD units)
    shirt_rgb: np.ndarray
    skin_rgb: np.ndarray


def build_head(ident: Identity, step: float) -> HeadModel:
    """Sample the identity's textured height field on a grid of ``step`` canonical units."""
    src = source_assets()
    tex = identity_texture(ident)
    gx = np.arange(CANON_X[0], CANON_X[1], step, dtype=np.float32)
    gy = np.arange(CANON_Y[0], CANON_Y[1], step, dtype=np.float32)
    cx, cy = np.meshgrid(gx, gy)
    sx, sy = warp_to_source(ident, cx, cy)
    px, py = canonical_to_source(sx, sy)
    albedo = cv2.remap(tex, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    head = cv2.remap(src["head"], px, py, cv2.INTER_LINEAR, borderValue=0)
    face = cv2.remap(src["face"], px, py, cv2.INTER_LINEAR, borderValue=0)
    if ident.short_hair:  # a tighter skull outline: shorter, less voluminous hair
        head = head * (((sx - 0.03) / 1.55) ** 2 + ((sy + 0.05) / 2.05) ** 2 < 1.0)
    h = height_field(ident, sx, sy)
    # The height field ends at the head outline: fade to 0 so the silhouette has no cliff.
    h = h * np.clip(head * 1.5, 0, 1)
    hy, hx = np.gradient(h, step)
    normals = np.stack([-hx, -hy, -np.ones_like(h)], -1)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    keep = head > 0.5
    x0, y0, x1, y1 = FACE_BOX_CANON
    in_box = (sx >= x0) & (sx <= x1) & (sy >= y0) & (sy <= y1)
    points = np.stack([cx, cy, -h], -1)[keep].astype(np.float32)
    tip = int(np.argmin(points[:, 2]))  # the highest point of the face is the nose tip
    return HeadModel(
        points=points, normals=normals[keep].astype(np.float32),
        albedo=albedo[keep].astype(np.float32), is_face=(face > 0.5)[keep], in_box=in_box[keep],
        nose_tip=points[tip].copy(), max_height=float(-points[tip, 2]), step=step,
        shirt_rgb=np.asarray(ident.shirt_rgb, np.float32), skin_rgb=np.asarray(ident.skin_rgb, np.float32),
    )
