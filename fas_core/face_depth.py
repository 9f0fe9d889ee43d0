"""Built-in depth pseudo-labels: a 3D face template fitted to the 5 MTCNN landmarks, z-buffered.

docs/data.md, preprocessing step 3. The original pipelines render PRNet's 3DMM fit into a
``<video>_<NNN>_depth1D.jpg`` map (frame size, single channel, face depth min-max scaled to
0-255, 0 outside the face). This module produces the same format with no extra dependency:

1. **Template.** A parametric mean-face height field built in code (:class:`TemplateShape`):
   a head ellipsoid, a nose ridge that rises from the bridge to the tip, eye sockets, brow,
   lips and chin, cut by an egg-shaped face outline (wider at the cheeks than at the chin).
   Units: the distance between the eye centres is 1; the eye centres sit at ``(+-0.5, 0)``,
   ``y`` points down. The 5 landmark positions follow the usual mean 5-point layout of face
   alignment (nose 0.57 and mouth corners 1.16 inter-ocular distances below the eyes).
2. **Fit.** An affine camera (:func:`fit_camera`): the in-plane map (scale, roll, the face's own
   proportions) from the eyes, the mouth corners and the box's top and bottom edges; the
   out-of-plane tilt (yaw, pitch) from where the protruding nose tip sits relative to them.
3. **Render.** The template's vertices (a dense grid inside the outline) are projected and
   splatted into a z-buffer keeping the closest vertex per pixel (so the nose hides the far
   cheek under yaw). The z-buffer is rendered at a resolution where the projected grid spacing
   is below 0.6 pixel (no holes), then resized to the face's size in the frame with a
   normalised (mask-weighted) bilinear resize. Only the face's bounding rectangle is touched.
4. **Scale.** Closeness is min-max scaled like PRNet's maps: 255 at the closest point, 0 at the
   template's back rim (so the visible face outline stays above 0), every face pixel at least
   1, exactly 0 outside the face.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from .crop import crop_face

# Projected grid spacing of the z-buffer, in z-buffer pixels. Below 1/sqrt(2) every pixel inside
# the projected face holds at least one vertex (covering radius of the grid < half a pixel).
_MAX_SPLAT_SPACING = 0.6


@dataclass(frozen=True)
class TemplateShape:
    """Parameters of the mean-face height field (units: inter-ocular distance, y down)."""

    # Face outline: an egg centred at (0, outline_cy), half-height outline_b, half-width
    # outline_a at its centre shrinking by chin_taper towards the chin. It reaches from the
    # hairline (1.15 above the eyes) to a little below an average chin (2.25 below; a chin is
    # about 2 below): a face pixel left at 0 is a worse label error than a little neck.
    outline_cy: float = 0.55
    outline_a: float = 1.1
    outline_b: float = 1.7
    chin_taper: float = 0.3
    # Head ellipsoid behind the face (larger than the outline so the rim keeps some height).
    head_a: float = 1.35
    head_b: float = 2.0
    head_depth: float = 1.0
    # Nose: a ridge from the bridge (y = nose_top) to the tip (y = nose_tip_y), height nose_height.
    nose_top: float = 0.0
    nose_tip_y: float = 0.57
    nose_height: float = 0.42
    nose_width_top: float = 0.09
    nose_width_tip: float = 0.17
    nose_fall: float = 0.12  # how fast the nose drops below the tip, towards the upper lip
    # Smaller features (height, centre, size).
    eye_socket: float = 0.12
    eye_sigma: tuple[float, float] = (0.2, 0.13)
    brow: float = 0.06
    brow_y: float = -0.3
    lips: float = 0.08
    lips_y: float = 1.1
    chin: float = 0.07
    chin_y: float = 1.7
    # Frontal 2D positions of the 5 landmarks (x, y); depth comes from the height field.
    landmarks_2d: tuple[tuple[float, float], ...] = field(
        default=((-0.5, 0.0), (0.5, 0.0), (0.0, 0.57), (-0.41, 1.16), (0.41, 1.16)))
    # Where an MTCNN box's top and bottom edges lie on a frontal face (brow and chin).
    box_top_y: float = -0.95
    box_bottom_y: float = 1.65
    grid_step: float = 0.02  # vertex spacing of the mesh (about 15k vertices)


def height(shape: TemplateShape, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height of the template surface towards the camera (larger = closer) at ``(x, y)``."""
    s = shape
    rel = 1.0 - (x / s.head_a) ** 2 - ((y - s.outline_cy) / s.head_b) ** 2
    h = s.head_depth * np.sqrt(np.clip(rel, 0.0, None))
    # Nose ridge: height grows from the bridge to the tip, then drops quickly below the tip.
    t = np.clip((y - s.nose_top) / (s.nose_tip_y - s.nose_top), 0.0, 1.0)
    profile = np.where(y <= s.nose_tip_y, 0.35 + 0.65 * t ** 1.5,
                       np.exp(-0.5 * ((y - s.nose_tip_y) / s.nose_fall) ** 2))
    profile = np.where(y < s.nose_top, np.exp(-0.5 * ((y - s.nose_top) / 0.12) ** 2) * 0.35, profile)
    width = s.nose_width_top + (s.nose_width_tip - s.nose_width_top) * t
    h = h + s.nose_height * profile * np.exp(-0.5 * (x / width) ** 2)
    ex, ey = s.eye_sigma
    for cx in (-0.5, 0.5):
        h = h - s.eye_socket * np.exp(-0.5 * (((x - cx) / ex) ** 2 + (y / ey) ** 2))
    h = h + s.brow * np.exp(-0.5 * ((x / 0.7) ** 2 + ((y - s.brow_y) / 0.12) ** 2))
    h = h + s.lips * np.exp(-0.5 * ((x / 0.35) ** 2 + ((y - s.lips_y) / 0.12) ** 2))
    h = h + s.chin * np.exp(-0.5 * ((x / 0.35) ** 2 + ((y - s.chin_y) / 0.15) ** 2))
    return h


def inside_outline(shape: TemplateShape, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True inside the egg-shaped face outline."""
    eta = (y - shape.outline_cy) / shape.outline_b
    half_width = shape.outline_a * (1.0 - shape.chin_taper * np.clip(eta, 0.0, 1.0) ** 2)
    return (x / half_width) ** 2 + eta ** 2 <= 1.0


@dataclass(frozen=True)
class Template:
    """The template as camera-convention 3D points: x right, y down, z away from the camera."""

    shape: TemplateShape
    vertices: np.ndarray  # [N, 3] float64
    landmarks: np.ndarray  # [5, 3] float64
    box_points: np.ndarray  # [2, 3] where a detector box's top and bottom edges usually lie
    back: np.ndarray  # [K, 3] points of the rim at height 0: the far end of the min-max scale


@lru_cache(maxsize=8)
def build_template(shape: TemplateShape = TemplateShape()) -> Template:
    """Sample the height field on a grid inside the outline (cached per shape)."""
    s = shape
    top, bottom = s.outline_cy - s.outline_b, s.outline_cy + s.outline_b
    xs = np.arange(-s.outline_a, s.outline_a + 1e-9, s.grid_step)
    ys = np.arange(top, bottom + 1e-9, s.grid_step)
    gx, gy = np.meshgrid(xs, ys)
    keep = inside_outline(s, gx, gy)
    x, y = gx[keep], gy[keep]
    verts = np.stack([x, y, -height(s, x, y)], axis=1)
    lm2 = np.asarray(s.landmarks_2d, dtype=np.float64)
    lms = np.concatenate([lm2, -height(s, lm2[:, 0], lm2[:, 1])[:, None]], axis=1)
    ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    back = np.stack([s.head_a * np.cos(ang), s.outline_cy + s.head_b * np.sin(ang), np.zeros_like(ang)], axis=1)
    # The box's edges are a 2D detector output, not points on the surface: giving them the
    # landmarks' mean depth keeps them from pulling on the pitch, which they cannot observe.
    box_pts = np.array([[0.0, s.box_top_y, lms[:, 2].mean()], [0.0, s.box_bottom_y, lms[:, 2].mean()]])
    return Template(shape=s, vertices=verts, landmarks=lms, box_points=box_pts, back=back)


# ---------------------------------------------------------------------------------- camera fit
@dataclass
class Camera:
    """Affine camera: image point = P @ X + t; closeness = -scale * (X . view), view = unit(p1 x p2).

    ``view`` is the template-space direction that projects to a single image point (the viewing
    ray); for a scaled rotation ``P = s R[:2]`` it is the rotation's third row.
    """

    P: np.ndarray  # [2, 3]
    t: np.ndarray  # [2]

    @property
    def scale(self) -> float:
        return float(np.linalg.svd(self.P, compute_uv=False)[0])

    @property
    def view(self) -> np.ndarray:
        d = np.cross(self.P[0], self.P[1])
        return d / (np.linalg.norm(d) + 1e-12)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``points`` [N, 3] -> image coordinates [N, 2] and closeness [N] (frame pixels)."""
        pts = np.asarray(points, dtype=np.float64)
        return pts @ self.P.T + self.t, -self.scale * (pts @ self.view)


def _weighted_affine_row(xy: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares ``[x, y, 1] . p = b``: one image row of a 2D affine map."""
    A = np.hstack([xy, np.ones((len(xy), 1))]) * w[:, None]
    sol, *_ = np.linalg.lstsq(A, b * w, rcond=None)
    return sol


_PLANE = [0, 1, 3, 4]  # eyes and mouth corners: nearly one depth, they fix the in-plane map


def fit_camera(landmarks: np.ndarray, box: Sequence[float] | None = None, template: Template | None = None,
               box_weight: float = 0.7, mouth_weight: float = 0.5, yaw_ridge: float = 0.02,
               pitch_ridge: float = 0.1, max_tilt_deg: float = 60.0) -> Camera:
    """Fit an affine camera to the 5 landmarks [5, 2] (and the box), in two steps.

    1. **In-plane map** (2D affine: scale, roll, the face's own proportions) from the eyes and
       mouth corners, and the box's top and bottom edges when a box is given. The mouth
       corners' height is down-weighted (``mouth_weight``): a smile lifts them, and an affine
       map fitted to them would squash the whole face. The box's edges (``box_weight``) say
       where the brow and the chin are. The nose takes no part here, so the face's vertical
       extent never depends on where the nose happens to be.
    2. **Out-of-plane tilt** from the nose tip alone: it protrudes ``dz`` in front of the eyes
       and mouth, so a yaw/pitch moves it by ``c * dz`` in the image away from where the
       in-plane map puts it; ``c`` (the camera's z column) is that offset over ``dz``, shrunk
       by a ridge (squared template units against ``dz**2 ~ 0.3``): lightly for yaw, more for
       pitch, which is confounded with how long a face's nose is.

    Affine rather than rigid: a face whose proportions differ from the template's changes the
    in-plane map instead of being mistaken for a rotation.
    """
    tpl = template or build_template()
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (5, 2) or not np.all(np.isfinite(lm)):
        raise ValueError(f"expected 5 finite (x, y) landmarks, got shape {lm.shape}")
    X = tpl.landmarks
    plane_xy, plane_z = X[_PLANE, :2], X[_PLANE, 2]
    xy_y, w_y = plane_xy, np.array([1.0, 1.0, mouth_weight, mouth_weight])
    z_y = plane_z
    box_y = np.zeros(0)
    if box is not None and box_weight > 0:
        bx, by, bw, bh = (float(v) for v in box)
        if not (bw > 0 and bh > 0 and np.isfinite([bx, by, bw, bh]).all()):
            raise ValueError(f"bad face box {tuple(box)}: expected x, y, w, h with w, h > 0")
        xy_y = np.vstack([xy_y, tpl.box_points[:, :2]])
        z_y = np.append(z_y, tpl.box_points[:, 2])
        box_y = np.array([by, by + bh])
        w_y = np.append(w_y, [box_weight, box_weight])
    z_ref = float(plane_z.mean())
    dz = float(X[2, 2]) - z_ref  # negative: the nose tip is closer than the eyes and mouth
    ridge = np.array([yaw_ridge, pitch_ridge])
    s_est = float(np.linalg.norm(lm[1] - lm[0]))  # rough scale, for the tilt limit
    c = np.zeros(2)
    # The eyes and mouth are not at exactly one depth: under yaw their depth difference looks like
    # a shear. Alternate the two steps, removing the current tilt's share from the plane points.
    for _ in range(3):
        row_x = _weighted_affine_row(plane_xy, lm[_PLANE, 0] - c[0] * (plane_z - z_ref), np.ones(4))
        row_y = _weighted_affine_row(xy_y, np.append(lm[_PLANE, 1], box_y) - c[1] * (z_y - z_ref), w_y)
        M = np.array([row_x[:2], row_y[:2]])
        offset = lm[2] - (M @ X[2, :2] + [row_x[2], row_y[2]])
        c = offset * dz / (dz * dz + ridge)
        s_est = float(np.linalg.svd(M, compute_uv=False)[0])
        # Limit the out-of-plane tilt: for a scaled rotation |z column| = s * sin(tilt). A
        # misplaced nose landmark can suggest a profile view that no detector-found face shows.
        zmax = s_est * math.sin(math.radians(max_tilt_deg))
        cn = float(np.linalg.norm(c))
        if cn > zmax:
            c = c * (zmax / cn)
    if np.linalg.det(M) <= 0:
        raise ValueError("landmarks are mirrored or degenerate (left eye not left of the right eye); cannot fit")
    P = np.hstack([M, c[:, None]])
    t = np.array([row_x[2], row_y[2]]) - c * z_ref  # points at the plane's depth stay where step 1 put them
    return Camera(P=P, t=t)


def landmarks_from_box(box: Sequence[float]) -> np.ndarray:
    """Mean MTCNN landmark positions inside an ``(x, y, w, h)`` box: a frontal-face fallback."""
    x, y, w, h = (float(v) for v in box)
    rel = np.array([[0.30, 0.37], [0.70, 0.37], [0.50, 0.58], [0.34, 0.77], [0.66, 0.77]])
    return rel * [w, h] + [x, y]


# ---------------------------------------------------------------------------------- render
def _fit(landmarks: np.ndarray | None, box: Sequence[float] | None, tpl: Template) -> Camera:
    if landmarks is None:
        if box is None:
            raise ValueError("render_depth needs landmarks or a box")
        landmarks = landmarks_from_box(box)
    return fit_camera(landmarks, box, tpl)


def render_depth_float(frame_size: tuple[int, int], landmarks: np.ndarray | None = None,
                       box: Sequence[float] | None = None, shape: TemplateShape | None = None) -> np.ndarray:
    """Depth map in [0, 1] (float32, ``H x W`` for ``frame_size = (W, H)``), 0 outside the face.

    ``landmarks`` [5, 2] drive the fit; without them the box's mean landmark layout is used.
    """
    tpl = build_template(shape or TemplateShape())
    return render_camera(frame_size, _fit(landmarks, box, tpl), tpl)


def render_camera(frame_size: tuple[int, int], cam: Camera, tpl: Template | None = None) -> np.ndarray:
    """Render the template seen by ``cam`` into a [0, 1] float32 depth map of ``frame_size = (W, H)``."""
    W, H = int(frame_size[0]), int(frame_size[1])
    out = np.zeros((H, W), dtype=np.float32)
    face, x0, y0 = _render_patch(W, H, cam, tpl or build_template())
    out[y0:y0 + face.shape[0], x0:x0 + face.shape[1]] = face
    return out


def _render_patch(W: int, H: int, cam: Camera, tpl: Template) -> tuple[np.ndarray, int, int]:
    """The face's rectangle of the depth map (float32 in [0, 1], clipped to the frame) and its corner."""
    pts = tpl.vertices
    uv = pts @ cam.P.T + cam.t
    scale, view = cam.scale, cam.view
    close = -scale * (pts @ view)
    # Integer frame pixels per z-buffer pixel, so that z-buffer pixels tile the frame exactly.
    n = max(1, math.ceil(scale * tpl.shape.grid_step / _MAX_SPLAT_SPACING))
    ox, oy = math.floor(float(uv[:, 0].min())), math.floor(float(uv[:, 1].min()))
    bj = ((uv[:, 0] - ox) / n).astype(np.int64)
    bi = ((uv[:, 1] - oy) / n).astype(np.int64)
    hb, wb = int(bi.max()) + 1, int(bj.max()) + 1
    if hb * wb > 4 * H * W + 1024:
        raise ValueError(f"face of {wb * n}x{hb * n} px is implausibly large for a {W}x{H} frame")
    zbuf = np.full(hb * wb, -np.inf, dtype=np.float64)
    np.maximum.at(zbuf, bi * wb + bj, close)  # z-buffer: keep the closest vertex per pixel
    zbuf = zbuf.reshape(hb, wb)
    mask = np.isfinite(zbuf)
    back_close = -scale * (tpl.back @ view)
    lo, hi = float(back_close.min()), float(zbuf[mask].max())
    val = np.where(mask, (zbuf - lo) / max(hi - lo, 1e-9), 0.0).astype(np.float32)
    maskf = mask.astype(np.float32)
    if n > 1:
        val = cv2.resize(val, (wb * n, hb * n), interpolation=cv2.INTER_LINEAR)
        maskf = cv2.resize(maskf, (wb * n, hb * n), interpolation=cv2.INTER_LINEAR)
    # Normalised resize: divide by the resized mask so the outline is not darkened by the zeros.
    face = np.where(maskf >= 0.5, np.clip(val / np.maximum(maskf, 1e-6), 0.0, 1.0), 0.0).astype(np.float32)
    # Clip the face rectangle to the frame.
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = max(min(ox + face.shape[1], W), x0), max(min(oy + face.shape[0], H), y0)
    return face[y0 - oy:y1 - oy, x0 - ox:x1 - ox], x0, y0


def to_uint8(depth: np.ndarray) -> np.ndarray:
    """[0, 1] float map -> uint8 0-255 with every face pixel (depth > 0) at least 1."""
    q = np.rint(np.clip(depth, 0.0, 1.0) * 255.0).astype(np.uint8)
    q[(depth > 0) & (q == 0)] = 1
    return q


def render_depth(frame_size: tuple[int, int], landmarks: np.ndarray | None = None,
                 box: Sequence[float] | None = None, shape: TemplateShape | None = None) -> np.ndarray:
    """The ``depth1D`` map: uint8 ``H x W``, 0 outside the face, 255 at the closest point."""
    tpl = build_template(shape or TemplateShape())
    W, H = int(frame_size[0]), int(frame_size[1])
    out = np.zeros((H, W), dtype=np.uint8)
    face, x0, y0 = _render_patch(W, H, _fit(landmarks, box, tpl), tpl)
    out[y0:y0 + face.shape[0], x0:x0 + face.shape[1]] = to_uint8(face)  # only the face rectangle is converted
    return out


def pearson_inside(pred: np.ndarray, true: np.ndarray) -> float:
    """Pearson correlation of two depth maps over the pixels where ``true > 0`` (the true face)."""
    m = np.asarray(true) > 0
    if m.sum() < 3:
        return float("nan")
    a = np.asarray(pred, dtype=np.float64)[m]
    b = np.asarray(true, dtype=np.float64)[m]
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def face_depth_crop(frame_size: tuple[int, int], box: Sequence[float], landmarks: np.ndarray | None, scale: float,
                    size: tuple[int, int], interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """The built-in depth map of one face, cropped like the model input: float32 ``[H, W]`` in [0, 1].

    This is what the test split's depth maps hold for that face (``make_depth`` renders every
    video, attacks included), so a predictor that masks with it scores a face the way ``test.py``
    scored the dev set when it chose the threshold. ``size`` is ``(W, H)``; area averaging by
    default (the FAS-SGTD loaders), ``cv2.INTER_LINEAR`` as the crop cache's depth crops.
    """
    depth = render_depth(frame_size, landmarks, box)
    return crop_face(depth, tuple(box), scale, size, interpolation).astype(np.float32) / 255.0
