"""Rendering for the synthetic OULU-NPU (docs/data.md, "Synthetic OULU-NPU").

* Sessions: three illumination/background conditions (light direction, colour, ambient level,
  exposure, and a procedural room behind the subject).
* Live faces: the identity's 3D head point cloud (:mod:`data.synth_face`) posed, projected with
  a pinhole camera and splatted with a z-buffer; holes are filled by normalised convolution.
  Lambertian shading follows the head's rotation, and the true depth comes from the same z-buffer.
* Attacks: a content image (a print or a screen frame) mapped onto a plane (optionally bent)
  by exact ray-surface intersection, so the attack moves with rigid planar perspective.
* Phones: six camera models (effective resolution, blur, colour response, noise, JPEG quality).

All images are float32 RGB in [0, 1] until the phone model turns them into uint8.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from .synth_face import HeadModel, derive_seed


# ----------------------------------------------------------------------------- camera and poses
@dataclass(frozen=True)
class Camera:
    """Pinhole camera; pixel centres at integer coordinates (as cv2.remap samples)."""

    width: int
    height: int
    focal: float
    cx: float
    cy: float

    def with_canvas(self, width: int, height: int) -> Camera:
        """Same focal length, a canvas of another size centred on the same optical axis."""
        return Camera(width, height, self.focal, self.cx + (width - self.width) / 2.0,
                      self.cy + (height - self.height) / 2.0)

    def shifted(self, dx: float, dy: float) -> Camera:
        return Camera(self.width, self.height, self.focal, self.cx + dx, self.cy + dy)


def apply_matrix(points: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """``points @ mat.T`` for N x 3 points without BLAS (whose threads make tiny products slow)."""
    return np.einsum("...k,jk->...j", points, mat.astype(points.dtype))


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``Rz(roll) @ Ry(yaw) @ Rx(pitch)`` (radians; camera axes x right, y down, z forward)."""
    cy_, sy_ = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    ry = np.array([[cy_, 0, sy_], [0, 1, 0], [-sy_, 0, cy_]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return (rz @ ry @ rx).astype(np.float32)


# ----------------------------------------------------------------------------- sessions
@dataclass(frozen=True)
class Lighting:
    name: str
    ambient: float
    diffuse: float
    direction: tuple[float, float, float]  # towards the light, camera coordinates
    colour: tuple[float, float, float]
    exposure: float
    wall: tuple[float, float, float]

    def unit_direction(self) -> np.ndarray:
        d = np.asarray(self.direction, np.float32)
        return d / np.linalg.norm(d)

    def shade(self, normals: np.ndarray) -> np.ndarray:
        """Lambertian shade of unit normals, scaled so a surface facing the camera gets 1."""
        ndl = np.clip(np.einsum("...k,k->...", normals, self.unit_direction()), 0.0, None)
        frontal = self.ambient + self.diffuse * max(0.0, float(-self.unit_direction()[2]))
        return (self.ambient + self.diffuse * ndl) / frontal

    def tint(self) -> np.ndarray:
        return np.asarray(self.colour, np.float32) * self.exposure


SESSIONS: dict[int, Lighting] = {
    1: Lighting("office, ceiling lights on", 0.6, 0.45, (0.15, -0.5, -1.0), (1.0, 0.98, 0.95), 1.0,
                (0.80, 0.77, 0.70)),
    2: Lighting("office, lights off, window on the left", 0.3, 0.8, (-0.9, -0.25, -0.6), (0.93, 0.97, 1.05),
                0.88, (0.50, 0.53, 0.58)),
    3: Lighting("hall, warm light from the upper right", 0.4, 0.65, (0.75, -0.55, -0.6), (1.1, 0.95, 0.78),
                0.85, (0.62, 0.55, 0.45)),
}


def _soft_rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour: np.ndarray, blur: float) -> None:
    mask = np.zeros(img.shape[:2], np.float32)
    cv2.rectangle(mask, (x0, y0), (x1, y1), 1.0, -1)
    if blur > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), blur)
    img += (colour - img) * mask[..., None]


@functools.lru_cache(maxsize=8)
def session_background(seed: int, session: int, width: int, height: int, light: Lighting | None = None) -> np.ndarray:
    """A procedural room for one session: wall, door/window/shelves/posters, out of focus.

    Deterministic from ``(seed, session)``; ``width x height`` is the whole backdrop (larger
    than a frame, so that attack canvases and per-video framing can move over it). ``light``
    (default: OULU session ``session``'s) colours the wall; sessions 2 and 3 add a window and a
    plant, any other room number only furniture.
    """
    light = SESSIONS[session] if light is None else light
    rng = np.random.default_rng(derive_seed(seed, "background", session))
    s = width / 640.0
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    wall = np.asarray(light.wall, np.float32)
    lowf = cv2.resize(rng.normal(0, 1, (6, 8)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    img = wall * (1.0 + 0.06 * lowf[..., None]) * (1.05 - 0.2 * yy[..., None] / height)
    # Furniture: a few coloured rectangles (door, shelves, posters), placed per session.
    for _ in range(int(rng.integers(4, 7))):
        w_, h_ = int(rng.uniform(60, 220) * s), int(rng.uniform(40, 260) * s)
        x0, y0 = int(rng.uniform(0, width - w_)), int(rng.uniform(0, height - h_))
        col = np.clip(wall * rng.uniform(0.4, 1.3, 3), 0, 1).astype(np.float32)
        _soft_rect(img, x0, y0, x0 + w_, y0 + h_, col, 1.5 * s)
        if rng.random() < 0.5:  # shelf with books
            for k in range(int(rng.integers(5, 12))):
                bw = int(rng.uniform(6, 16) * s)
                bx = x0 + k * bw
                if bx + bw > x0 + w_:
                    break
                book = rng.uniform(0.1, 0.9, 3).astype(np.float32)
                _soft_rect(img, bx, y0 + int(h_ * 0.3), bx + bw - 1, y0 + h_, book, 0.8 * s)
    if session == 2:  # the bright window of the "lights off" session
        x0, y0 = int(0.05 * width), int(0.12 * height)
        _soft_rect(img, x0, y0, x0 + int(0.22 * width), y0 + int(0.45 * height),
                   np.array([0.95, 0.97, 1.0], np.float32), 2.0 * s)
        for k in (1, 2):
            bx = x0 + int(k * 0.22 * width / 3)
            _soft_rect(img, bx, y0, bx + max(2, int(4 * s)), y0 + int(0.45 * height),
                       np.array([0.3, 0.3, 0.32], np.float32), 0.5)
    if session == 3:  # a plant and a lamp glow
        cx, cy = int(rng.uniform(0.6, 0.9) * width), int(rng.uniform(0.3, 0.6) * height)
        for _ in range(25):
            ox, oy = rng.normal(0, 25 * s, 2)
            cv2.ellipse(img, (int(cx + ox), int(cy + oy)), (int(14 * s), int(6 * s)), float(rng.uniform(0, 180)),
                        0, 360, tuple(float(v) for v in rng.uniform([0.05, 0.25, 0.05], [0.2, 0.5, 0.15])), -1)
        glow = np.exp(-(((xx - 0.2 * width) / (0.2 * width)) ** 2 + ((yy - 0.15 * height) / (0.2 * height)) ** 2))
        img = img + 0.25 * glow[..., None] * np.array([1.0, 0.85, 0.6], np.float32)
    img = img * light.tint() * (0.95 if session != 1 else 1.0)
    img = cv2.GaussianBlur(np.clip(img, 0, 1).astype(np.float32), (0, 0), 1.6 * s)  # out of focus
    img += rng.normal(0, 0.01, img.shape).astype(np.float32)
    img.setflags(write=False)
    return img


def background_view(backdrop: np.ndarray, cam: Camera, offset: tuple[float, float]) -> np.ndarray:
    """The part of the (distant) backdrop seen by ``cam``; ``offset`` moves the framing."""
    hb, wb = backdrop.shape[:2]
    # The backdrop is far away: the view is a crop whose centre follows the principal point.
    cx = (wb - 1) / 2.0 + offset[0] + (cam.width - 1) / 2.0 - cam.cx
    cy = (hb - 1) / 2.0 + offset[1] + (cam.height - 1) / 2.0 - cam.cy
    return cv2.getRectSubPix(backdrop, (cam.width, cam.height), (float(cx), float(cy)))


# ----------------------------------------------------------------------------- live head
NECK_PIVOT = np.array([0.0, 1.8, 0.6], np.float32)  # head-local rotation centre (the neck joint)


@dataclass
class HeadRender:
    rgb: np.ndarray  # H x W x 3
    alpha: np.ndarray  # H x W
    depth: np.ndarray  # H x W relative depth in [0, 1], 0 outside the face
    box: tuple[float, float, float, float] | None  # MTCNN-like face box x, y, w, h


def pose_points(model: HeadModel, rot: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Head-local points -> camera coordinates (rotation about the neck pivot)."""
    return apply_matrix(model.points - NECK_PIVOT, rot) + (NECK_PIVOT + trans)


def render_head(model: HeadModel, rot: np.ndarray, trans: np.ndarray, cam: Camera, light: Lighting) -> HeadRender:
    """Splat the posed head into a ``cam`` image with a z-buffer; returns colour, coverage, depth, box."""
    pts = pose_points(model, rot, trans)
    z = pts[:, 2]
    u = cam.focal * pts[:, 0] / z + cam.cx
    v = cam.focal * pts[:, 1] / z + cam.cy
    ui, vi = np.rint(u).astype(np.int32), np.rint(v).astype(np.int32)
    ok = (ui >= 0) & (ui < cam.width) & (vi >= 0) & (vi < cam.height)
    rgb = np.zeros((cam.height, cam.width, 3), np.float32)
    alpha = np.zeros((cam.height, cam.width), np.float32)
    depth = np.zeros((cam.height, cam.width), np.float32)
    if not ok.any():
        return HeadRender(rgb, alpha, depth, None)
    # Work inside the bounding window of the projection only (most of the frame is background).
    x0, x1 = max(int(ui[ok].min()) - 2, 0), min(int(ui[ok].max()) + 3, cam.width)
    y0, y1 = max(int(vi[ok].min()) - 2, 0), min(int(vi[ok].max()) + 3, cam.height)
    ww, hh = x1 - x0, y1 - y0
    idx = np.nonzero(ok)[0]
    pix = (vi[idx] - y0) * ww + (ui[idx] - x0)
    zb = np.full(ww * hh, np.inf, np.float32)
    np.minimum.at(zb, pix, z[idx])
    win = z[idx] <= zb[pix]
    idx, pix = idx[win], pix[win]
    shade = light.shade(apply_matrix(model.normals[idx], rot))
    col = model.albedo[idx] * shade[:, None] * light.tint()
    # Relative depth: 1 at the frontal nose tip, 0 on the head's base plane under the nose.
    ref = apply_matrix(model.nose_tip * np.array([1, 1, 0], np.float32) - NECK_PIVOT, rot) + NECK_PIVOT + trans
    rel = np.clip((ref[2] - z[idx]) / model.max_height, 0.0, 1.0)
    layers = np.zeros((ww * hh, 7), np.float32)  # rgb, coverage, relative depth, face flag, box flag
    layers[pix, 0:3] = col
    layers[pix, 3] = 1.0
    layers[pix, 4] = rel
    layers[pix, 5] = model.is_face[idx]
    layers[pix, 6] = model.in_box[idx]
    layers = layers.reshape(hh, ww, 7)
    hit = layers[..., 3]
    closed = cv2.morphologyEx(hit, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    # Fill the splatting holes from their neighbours (normalised convolution).
    blurred = cv2.blur(layers, (3, 3))
    holes = (closed > 0.5) & (hit < 0.5)
    filled = blurred / np.maximum(blurred[..., 3:4], 1e-6)
    layers[holes] = filled[holes]
    layers[holes, 3] = 1.0
    cov = layers[..., 3]
    face = layers[..., 5] > 0.5
    sub_depth = np.where(face, np.maximum(layers[..., 4] * layers[..., 3], 0.02), 0.0)
    rgb[y0:y1, x0:x1] = layers[..., :3]
    # Soften the silhouette inwards only (outside it there is no head colour to blend).
    alpha[y0:y1, x0:x1] = np.minimum(cov, cv2.GaussianBlur(cov, (0, 0), 0.6))
    depth[y0:y1, x0:x1] = sub_depth
    ys, xs = np.nonzero(layers[..., 6] > 0.5)
    box = None
    if xs.size:
        box = (float(xs.min() + x0), float(ys.min() + y0), float(xs.max() - xs.min() + 1),
               float(ys.max() - ys.min() + 1))
    return HeadRender(rgb, alpha, depth, box)


def body_layer(model: HeadModel, rot: np.ndarray, trans: np.ndarray, cam: Camera,
               light: Lighting) -> tuple[np.ndarray, np.ndarray]:
    """Neck and shoulders: flat cut-outs behind the head; the neck's top follows the head's turn."""
    def proj(p: np.ndarray) -> np.ndarray:
        return np.stack([cam.focal * p[:, 0] / p[:, 2] + cam.cx, cam.focal * p[:, 1] / p[:, 2] + cam.cy], -1)

    top = apply_matrix(np.array([[-0.5, 1.2, 0.3], [0.5, 1.2, 0.3]], np.float32) - NECK_PIVOT, rot)
    top = top + NECK_PIVOT + trans
    bottom = np.array([[0.62, 3.3, 0.4], [-0.62, 3.3, 0.4]], np.float32) + trans
    neck = proj(np.concatenate([top, bottom]))
    shoulders = proj(np.array([(-0.75, 2.8, 0.9), (-2.0, 3.2, 0.9), (-3.1, 3.9, 0.9), (-3.5, 7.0, 0.9),
                               (3.5, 7.0, 0.9), (3.1, 3.9, 0.9), (2.0, 3.2, 0.9), (0.75, 2.8, 0.9)],
                              np.float32) + trans)
    rgb = np.zeros((cam.height, cam.width, 3), np.float32)
    alpha = np.zeros((cam.height, cam.width), np.uint8)
    shade = float(light.shade(np.array([[0.0, -0.3, -1.0]], np.float32) / np.sqrt(1.09))[0])
    for poly, colour in ((shoulders, model.shirt_rgb * shade), (neck, model.skin_rgb * 0.75 * shade)):
        m = np.zeros_like(alpha)
        cv2.fillPoly(m, [np.rint(poly * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        rgb[m > 0] = colour  # the neck is darker: the chin shades it
        alpha = np.maximum(alpha, m)
    return rgb * light.tint(), alpha.astype(np.float32) / 255.0


def over(base: np.ndarray, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return base + (rgb - base) * alpha[..., None]


def render_scene(model: HeadModel, rot: np.ndarray, trans: np.ndarray, cam: Camera, light: Lighting,
                 backdrop: np.ndarray, bg_offset: tuple[float, float]) -> tuple[np.ndarray, HeadRender]:
    """Background, body and head composited for one camera view."""
    img = background_view(backdrop, cam, bg_offset)
    body_rgb, body_a = body_layer(model, rot, trans, cam, light)
    img = over(img, body_rgb, body_a)
    head = render_head(model, rot, trans, cam, light)
    return over(img, head.rgb, head.alpha), head


# ----------------------------------------------------------------------------- attacks: planes
@dataclass
class PlaneView:
    rgba: np.ndarray  # H x W x 4: sampled content and coverage
    cu: np.ndarray  # content x coordinate of every frame pixel (for screens/halftones)
    cv: np.ndarray  # content y coordinate
    normal: np.ndarray  # 3, normal of the sheet at its centre (camera coordinates)
    shade: np.ndarray  # Lambertian shade of the surface under the session light


def render_plane(content: np.ndarray, cam: Camera, centre: np.ndarray, rot: np.ndarray, pixel_size: float,
                 bend: float, light: Lighting) -> PlaneView:
    """Map ``content`` (RGB) onto a sheet and view it through ``cam``.

    The sheet lies in its local x-y plane, centred at ``centre`` (camera coordinates) and rotated
    by ``rot``; one content pixel measures ``pixel_size``; ``bend`` bends it into a parabolic
    cylinder (local ``z = bend * x^2 / half_width``). Each frame pixel's ray is intersected with
    the sheet exactly for a plane and by fixed-point iteration for the bend.
    """
    hc, wc = content.shape[:2]
    half_w = wc * pixel_size / 2.0
    rt = rot.T.astype(np.float64)
    o = -(rt @ centre.astype(np.float64))
    # Ray direction of every pixel, d = ((u - cx) / f, (v - cy) / f, 1), in sheet coordinates;
    # written out per component (cheaper than a matrix product over the whole image).
    dx = ((np.arange(cam.width, dtype=np.float32) - cam.cx) / cam.focal)[None, :]
    dy = ((np.arange(cam.height, dtype=np.float32) - cam.cy) / cam.focal)[:, None]
    e = [np.float32(rt[i, 0]) * dx + np.float32(rt[i, 1]) * dy + np.float32(rt[i, 2]) for i in range(3)]
    ez = np.where(np.abs(e[2]) < 1e-6, np.float32(1e-6), e[2])
    t = np.float32(-o[2]) / ez
    a = np.float32(o[0]) + t * e[0]
    for _ in range(3 if bend else 0):  # fixed point: the bent sheet's depth at the last hit
        t = (np.float32(bend / half_w) * a * a - np.float32(o[2])) / ez
        a = np.float32(o[0]) + t * e[0]
    b = np.float32(o[1]) + t * e[1]
    cu = (a / np.float32(pixel_size) + np.float32((wc - 1) / 2.0)).astype(np.float32)
    cv_ = (b / np.float32(pixel_size) + np.float32((hc - 1) / 2.0)).astype(np.float32)
    src = np.concatenate([content, np.ones((hc, wc, 1), np.float32)], -1)
    rgba = cv2.remap(src, cu, cv_, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    rgba[t <= 0] = 0
    # Shade of the sheet: its local normal is (-slope, 0, -1) / norm with slope = dz/da, so
    # n . L = (-slope * Ls_x - Ls_z) / norm with Ls the light direction in sheet coordinates.
    ls = rt @ light.unit_direction().astype(np.float64)
    frontal = light.ambient + light.diffuse * max(0.0, float(-light.unit_direction()[2]))
    if bend:
        slope = np.float32(2.0 * bend / half_w) * a
        ndl = (-slope * np.float32(ls[0]) - np.float32(ls[2])) / np.sqrt(1.0 + slope * slope)
    else:
        ndl = np.full((cam.height, cam.width), -ls[2], np.float32)
    shade = ((light.ambient + light.diffuse * np.clip(ndl, 0, None)) / frontal).astype(np.float32)
    return PlaneView(rgba, cu, cv_, apply_matrix(np.array([0, 0, -1], np.float32), rot), shade)


# ----------------------------------------------------------------------------- phones
@dataclass(frozen=True)
class Phone:
    """A camera model: what makes phone k's videos look like phone k's."""

    name: str
    resolution: float  # effective resolution as a share of the frame size
    blur: float  # Gaussian sigma (px at 320 px width)
    noise: float  # sensor noise sigma
    gains: tuple[float, float, float]  # white balance / colour response
    saturation: float
    gamma: float
    jpeg_quality: int


PHONES: dict[int, Phone] = {
    1: Phone("phone 1", 1.0, 0.5, 0.012, (1.0, 1.0, 1.0), 1.0, 1.0, 88),
    2: Phone("phone 2", 0.8, 0.7, 0.02, (1.06, 1.0, 0.9), 1.1, 0.95, 75),
    3: Phone("phone 3", 0.65, 0.5, 0.03, (0.94, 1.0, 1.1), 0.9, 1.05, 70),
    4: Phone("phone 4", 0.9, 0.9, 0.016, (1.0, 1.04, 0.96), 1.05, 1.0, 82),
    5: Phone("phone 5", 0.7, 0.6, 0.035, (1.08, 0.98, 0.94), 0.95, 0.92, 65),
    6: Phone("phone 6", 0.95, 0.8, 0.022, (0.97, 1.0, 1.05), 1.15, 1.08, 92),
}


@functools.lru_cache(maxsize=16)
def _colour_matrix(gains: tuple[float, float, float], saturation: float) -> np.ndarray:
    """White-balance gains after a saturation change (``lum + s * (rgb - lum)``) as one 3x3 matrix."""
    sat = saturation * np.eye(3) + (1.0 - saturation) / 3.0 * np.ones((3, 3))
    return (np.diag(gains) @ sat).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _gamma_lut(gamma: float) -> np.ndarray:
    return np.clip(255.0 * (np.arange(256) / 255.0) ** gamma + 0.5, 0, 255).astype(np.uint8)


def apply_phone(img: np.ndarray, phone: Phone, rng: np.random.Generator) -> np.ndarray:
    """Camera model: resolution loss, blur, colour response, noise, JPEG. Returns uint8 RGB."""
    h, w = img.shape[:2]
    if phone.resolution < 0.999:
        small = cv2.resize(img, (max(8, round(w * phone.resolution)), max(8, round(h * phone.resolution))),
                           interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    img = cv2.GaussianBlur(img, (0, 0), phone.blur * w / 320.0)
    img = cv2.transform(img, _colour_matrix(phone.gains, phone.saturation))
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(phone.noise)
    u8 = np.clip(img * np.float32(255.0) + np.float32(0.5), 0, 255).astype(np.uint8)
    u8 = cv2.LUT(u8, _gamma_lut(phone.gamma))
    ok, buf = cv2.imencode(".jpg", u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, phone.jpeg_quality])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]) if ok else u8
