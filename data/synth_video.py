"""One synthetic video, whatever dataset layout it is written into (docs/data.md, "Synthetic OULU-NPU").

A :class:`Shot` says what a video shows and how it is filmed: the subject, live / print /
replay and the instrument (:mod:`data.synth_attacks`), the lighting and room, the camera
model (:class:`data.synth_render.Phone`), the frame count and size. :func:`render_shot` turns it
into frames, the renderer's face boxes and (live) true depth, deterministically from the
:class:`Style` seed and the shot's key; :func:`write_video` stores the frames in the container
the path names (``.avi`` MJPG, ``.mp4`` / ``.mov`` MPEG-4).

* Live: a 3D head turning and nodding (yaw, pitch, roll, translation) in front of the room.
* Print: a photo of the subject (halftone, paper) moved and slightly bent as a sheet.
* Replay: the subject's video on a screen (pixel grid, gamma, bezel, reflection) moved as a plane.
"""

from __future__ import annotations

import functools
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fas_core import fileio
from fas_core.stages import VideoResult, run_stage

from .synth_attacks import Display, Printer, display_content, halftone, pixel_grid, print_content, reflection
from .synth_face import HeadModel, build_head, derive_seed, make_identity
from .synth_render import (
    Camera,
    Lighting,
    Phone,
    apply_matrix,
    apply_phone,
    background_view,
    over,
    render_plane,
    render_scene,
    rotation,
    session_background,
)

DEFAULT_DIFFICULTY = 0.6
FPS = 30.0
FOCAL_PER_WIDTH = 0.87  # about 60 degrees horizontal field of view, as phone cameras
IOD_PER_WIDTH = 0.155  # inter-ocular distance in frame widths at the nominal distance
FACE_PLANE = 1.5  # depth of the face's front below the head's base plane (canonical units)
NOMINAL_DISTANCE = FOCAL_PER_WIDTH / IOD_PER_WIDTH + FACE_PLANE  # head base plane: the IOD is IOD_PER_WIDTH
FOURCC = {".avi": "MJPG", ".mp4": "mp4v", ".mov": "mp4v"}


@dataclass(frozen=True)
class Style:
    """Settings every video of a generated dataset shares: the seed and the attack difficulty."""

    seed: int = 0
    difficulty: float = DEFAULT_DIFFICULTY

    @property
    def strength(self) -> float:
        """Texture artefact strength (halftone, moire, border, bezel): 1 at difficulty 0, 0 at 1."""
        return float(np.clip(1.0 - self.difficulty, 0.0, 1.0))

    @property
    def pose_match(self) -> float:
        """How far attack content takes its head pose from the live range: 0 up to difficulty 0.6, 1 at 1.

        A print otherwise shows a near-frontal photo and a replay a subject who barely turns,
        while a live head turns by up to 24 degrees: a single frame would tell them apart by
        pose alone, and the hardest setting is meant to leave only the motion across frames.
        """
        return float(np.clip((self.difficulty - 0.6) / 0.4, 0.0, 1.0))

    @property
    def colour_strength(self) -> float:
        """Colour artefact strength (gamut, tint, gamma): fades faster than texture with difficulty."""
        return self.strength ** 2


@dataclass(frozen=True)
class Shot:
    """What one video shows and how it is filmed."""

    key: str  # seeds the video's random draws (OULU-NPU: the video name)
    subject: int  # identity number (:func:`data.synth_face.make_identity`)
    kind: str  # live / print / replay
    instrument: Printer | Display | None  # the printer or display of an attack
    light: Lighting
    room: int  # background layout (:func:`data.synth_render.session_background`)
    phone: Phone
    frames: int
    width: int
    height: int
    upside_down: bool = False  # stored rotated by 180 degrees
    bend: float = 1.0  # how much more than usual a printed sheet is bent (a warped photo)
    still: bool = False  # a replay shows a photo, not a video
    motion: float = 1.0  # scales the motion of an attack's sheet or screen (a stand holds it still)
    shake: float = 1.0  # scales the camera shake (a webcam on a laptop does not shake)


@dataclass
class Video:
    """One generated video: frames (uint8 RGB), true depth of live videos, face boxes (x, y, w, h)."""

    name: str
    frames: np.ndarray  # T x H x W x 3 uint8 RGB
    depth: np.ndarray | None  # T x H x W float16 (live only)
    boxes: list[tuple[float, float, float, float] | None]


def camera(width: int, height: int) -> Camera:
    return Camera(width, height, FOCAL_PER_WIDTH * width, (width - 1) / 2.0, (height - 1) / 2.0)


# ----------------------------------------------------------------------------- motion
def _smooth_walk(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """A smooth random walk (hand tremor / camera shake), zero-mean, of about ``sigma`` amplitude."""
    steps = rng.normal(0, 1, n + 8)
    walk = np.convolve(np.cumsum(steps), np.ones(5) / 5, mode="valid")[:n]
    walk = walk - walk.mean()
    return sigma * walk / (walk.std() + 1e-6)


def _oscillation(rng: np.random.Generator, n: int, amp: tuple[float, float]) -> np.ndarray:
    period = rng.uniform(16, 36)
    phase = rng.uniform(0, 2 * np.pi)
    return rng.uniform(*amp) * rng.choice([-1, 1]) * np.sin(2 * np.pi * np.arange(n) / period + phase)


def motion(rng: np.random.Generator, n: int, rot_amp: tuple[tuple[float, float], ...], trans_amp: float,
           depth_amp: float) -> np.ndarray:
    """Per-frame ``[yaw, pitch, roll (radians), tx, ty, tz]``: oscillations plus tremor."""
    out = np.zeros((n, 6))
    for k, amp in enumerate(rot_amp):
        out[:, k] = np.radians(_oscillation(rng, n, amp) + _smooth_walk(rng, n, 0.4))
    out[:, 3] = _oscillation(rng, n, (0.0, trans_amp)) + _smooth_walk(rng, n, 0.02)
    out[:, 4] = _oscillation(rng, n, (0.0, trans_amp * 0.6)) + _smooth_walk(rng, n, 0.02)
    out[:, 5] = _oscillation(rng, n, (0.0, depth_amp))
    return out


LIVE_ROTATION = ((12.0, 24.0), (4.0, 10.0), (0.0, 4.0))  # yaw, pitch, roll amplitudes (degrees)
RECORDED_ROTATION = ((3.0, 7.0), (1.0, 3.0), (0.0, 1.5))  # the subject in a replayed video
PLANE_ROTATION = ((8.0, 18.0), (4.0, 10.0), (0.0, 5.0))  # a hand-held print or screen


# ----------------------------------------------------------------------------- one video
@functools.lru_cache(maxsize=8)
def _head(seed: int, user: int, step: float) -> HeadModel:
    return build_head(make_identity(seed, user), step)


@dataclass
class _Scene:
    """Everything a video's frames share."""

    cam: Camera
    head: HeadModel
    light: Any
    backdrop: np.ndarray
    bg_offset: tuple[float, float]
    trans: np.ndarray  # head placement (camera coordinates of the head-local origin)
    shake: np.ndarray  # T x 2 principal point jitter (camera shake of the hand-held phone)


def _scene(style: Style, shot: Shot, rng: np.random.Generator) -> _Scene:
    cam = camera(shot.width, shot.height)
    z0 = NOMINAL_DISTANCE
    step = (0.88 * z0 - FACE_PLANE - 0.4) / (1.6 * cam.focal)  # >= 1.6 grid points per pixel when closest
    head = _head(style.seed, shot.subject, round(step, 6))
    z = z0 * rng.uniform(0.92, 1.08)
    # Eyes at about 40% of the frame height, the head roughly centred.
    y = (rng.uniform(0.37, 0.43) * shot.height - cam.cy) / cam.focal * (z - FACE_PLANE)
    x = rng.uniform(-0.06, 0.06) * shot.width / cam.focal * (z - FACE_PLANE)
    backdrop = session_background(style.seed, shot.room, 2 * shot.width, 2 * shot.height, shot.light)
    bg_offset = (float(rng.uniform(-0.15, 0.15) * shot.width), float(rng.uniform(-0.1, 0.1) * shot.height))
    shake = np.stack([_smooth_walk(rng, shot.frames, 0.004 * shot.width * shot.shake),
                      _smooth_walk(rng, shot.frames, 0.004 * shot.width * shot.shake)], -1)
    return _Scene(cam, head, shot.light, backdrop, bg_offset, np.array([x, y, z], np.float32), shake)


def _pose(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return rotation(m[0], m[1], m[2]), np.asarray(m[3:6], np.float32)


def content_pose_offset(style: Style, key: str) -> np.ndarray:
    """``[yaw, pitch, roll, 0, 0, 0]`` added to the head pose an attack shows (zero at pose_match 0).

    Drawn like one frame of the live motion: amplitude from :data:`LIVE_ROTATION` times a random
    phase, scaled by :attr:`Style.pose_match`. A generator of its own keeps the videos of lower
    difficulties unchanged.
    """
    out = np.zeros(6)
    if style.pose_match <= 0:
        return out
    rng = np.random.default_rng(derive_seed(style.seed, "attack_pose", key))
    for k, amp in enumerate(LIVE_ROTATION):
        out[k] = np.radians(rng.uniform(*amp) * np.sin(rng.uniform(0, 2 * np.pi))) * style.pose_match
    return out


def _live(n: int, sc: _Scene, rng: np.random.Generator) -> tuple[list, list, list]:
    mot = motion(rng, n, LIVE_ROTATION, 0.25, 0.3)
    frames, depths, boxes = [], [], []
    for t in range(n):
        rot, dt = _pose(mot[t])
        cam = sc.cam.shifted(*sc.shake[t])
        img, head = render_scene(sc.head, rot, sc.trans + dt, cam, sc.light, sc.backdrop, sc.bg_offset)
        frames.append(img)
        depths.append(head.depth)
        boxes.append(head.box)
    return frames, depths, boxes


def _plane_frames(style: Style, shot: Shot, sc: _Scene, rng: np.random.Generator, contents: list[np.ndarray],
                  content_boxes: list) -> tuple[list, list]:
    """Move a sheet (print) or a screen (replay) showing ``contents`` in front of the camera."""
    n = shot.frames
    a, ac = style.strength, style.colour_strength
    mot = motion(rng, n, PLANE_ROTATION, 0.25, 0.3) * shot.motion
    bend = float(rng.uniform(-0.08, 0.08)) * shot.bend if shot.kind == "print" else 0.0
    z_plane = float(sc.trans[2]) - FACE_PLANE
    pixel = z_plane / sc.cam.focal  # one content pixel = one frame pixel when the sheet faces the camera
    centre0 = np.array([0.0, 0.0, z_plane], np.float32)
    frames, boxes = [], []
    for t in range(n):
        content = contents[min(t, len(contents) - 1)]
        rot, dt = _pose(mot[t])
        cam = sc.cam.shifted(*sc.shake[t])
        view = render_plane(content, cam, centre0 + dt, rot, pixel, bend, sc.light)
        rgb = view.rgba[..., :3]
        if shot.kind == "print":
            rgb = halftone(rgb, view, shot.instrument, a)
            # Paper reflects the room's light: its shade follows its orientation; the second
            # pass of the session's light colour over the photo shows at high strength.
            rgb = rgb * (view.shade * (1.0 - 0.12 * ac))[..., None] * (sc.light.tint() ** (0.5 * ac))
            glare = reflection(view, cam.focal, 0.08 * a)
        else:
            rgb = pixel_grid(rgb, view, shot.instrument, a)
            glare = reflection(view, cam.focal, shot.instrument.reflection * a)
        rgb = rgb + glare[..., None]
        bg = background_view(sc.backdrop, cam, sc.bg_offset)
        frames.append(over(bg, np.clip(rgb, 0, 1), view.rgba[..., 3]))
        boxes.append(_project_box(content_boxes[min(t, len(content_boxes) - 1)], content, cam, centre0 + dt, rot,
                                  pixel, bend))
    return frames, boxes


def _project_box(box, content: np.ndarray, cam: Camera, centre: np.ndarray, rot: np.ndarray, pixel: float,
                 bend: float) -> tuple[float, float, float, float] | None:
    """Where a face box drawn on the content lands in the frame."""
    if box is None:
        return None
    hc, wc = content.shape[:2]
    x, y, w, h = box
    corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]], np.float32)
    a = (corners[:, 0] - (wc - 1) / 2.0) * pixel
    b = (corners[:, 1] - (hc - 1) / 2.0) * pixel
    pts = apply_matrix(np.stack([a, b, bend * a * a / (wc * pixel / 2.0)], -1), rot) + centre
    u = cam.focal * pts[:, 0] / pts[:, 2] + cam.cx
    v = cam.focal * pts[:, 1] / pts[:, 2] + cam.cy
    return float(u.min()), float(v.min()), float(u.max() - u.min()), float(v.max() - v.min())


def _content_camera(style: Style, shot: Shot) -> Camera:
    """The canvas a photo or a recorded video covers: small (border in view) when artefacts are strong."""
    d = style.difficulty
    zoom = (0.7 + 0.7 * d) if shot.kind == "print" else (0.75 + 0.65 * d)
    w, h = shot.width, shot.height
    return camera(w, h).with_canvas(int(round(w * zoom / 2)) * 2, int(round(h * zoom / 2)) * 2)


def _box_on_content(box, border: int):
    return None if box is None else (box[0] + border, box[1] + border, box[2], box[3])


def _print_attack(style: Style, shot: Shot, sc: _Scene, rng: np.random.Generator,
                  offset: np.ndarray) -> tuple[list, list]:
    ccam = _content_camera(style, shot)
    pose = rng.normal(0, 1, 6) * np.array([np.radians(3), np.radians(3), np.radians(1), 0.05, 0.05, 0.0])
    rot, dt = _pose(pose + offset)
    photo, head = render_scene(sc.head, rot, sc.trans + dt, ccam, sc.light, sc.backdrop, sc.bg_offset)
    sheet = print_content(photo, shot.instrument, style.strength, style.colour_strength, rng)
    border = (sheet.shape[1] - photo.shape[1]) // 2
    return _plane_frames(style, shot, sc, rng, [sheet], [_box_on_content(head.box, border)])


def _replay_attack(style: Style, shot: Shot, sc: _Scene, rng: np.random.Generator,
                   offset: np.ndarray) -> tuple[list, list]:
    ccam = _content_camera(style, shot)
    mot = motion(rng, shot.frames, RECORDED_ROTATION, 0.08, 0.1)
    screens, cboxes = [], []
    for t in range(1 if shot.still else shot.frames):  # a still: the first frame is shown throughout
        rot, dt = _pose(mot[t] + offset)
        img, head = render_scene(sc.head, rot, sc.trans + dt, ccam, sc.light, sc.backdrop, sc.bg_offset)
        screen = display_content(img, shot.instrument, style.strength, style.colour_strength)
        border = (screen.shape[1] - img.shape[1]) // 2
        screens.append(screen)
        cboxes.append(_box_on_content(head.box, border))
    return _plane_frames(style, shot, sc, rng, screens, cboxes)


def _turned(frames: np.ndarray, boxes: list) -> tuple[np.ndarray, list]:
    """Frames and boxes rotated by 180 degrees (a phone held upside down)."""
    h, w = frames.shape[1:3]
    turned = [None if b is None else (w - b[0] - b[2], h - b[1] - b[3], b[2], b[3]) for b in boxes]
    return np.ascontiguousarray(frames[:, ::-1, ::-1]), turned


def render_shot(style: Style, shot: Shot) -> Video:
    """Render one video (deterministic from ``style.seed`` and ``shot.key``)."""
    rng = np.random.default_rng(derive_seed(style.seed, "video", shot.key))
    sc = _scene(style, shot, rng)
    depth = None
    if shot.kind == "live":
        frames, depths, boxes = _live(shot.frames, sc, rng)
        depth = np.stack(depths).astype(np.float16)
    elif shot.kind == "print" and isinstance(shot.instrument, Printer):
        frames, boxes = _print_attack(style, shot, sc, rng, content_pose_offset(style, shot.key))
    elif shot.kind == "replay" and isinstance(shot.instrument, Display):
        frames, boxes = _replay_attack(style, shot, sc, rng, content_pose_offset(style, shot.key))
    else:
        raise ValueError(f"{shot.key}: a {shot.kind} shot needs a matching instrument, got {shot.instrument!r}")
    out = np.stack([apply_phone(f, shot.phone, rng) for f in frames])
    if shot.upside_down:
        out, boxes = _turned(out, boxes)
        depth = None if depth is None else np.ascontiguousarray(depth[:, ::-1, ::-1])
    return Video(shot.key, out, depth, boxes)


# ----------------------------------------------------------------------------- files
def write_video(path: str | Path, frames: np.ndarray, fps: float = FPS) -> None:
    """Write uint8 RGB frames atomically: MJPG in ``.avi``, MPEG-4 in ``.mp4`` / ``.mov``."""
    path = Path(path)
    fourcc = FOURCC.get(path.suffix.lower())
    if fourcc is None:
        raise ValueError(f"cannot write video {path}: the container must be one of {', '.join(FOURCC)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames.shape[1:3]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot write {fourcc} video {path} (no video writer backend?)")
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
        for f in frames:
            writer.write(np.ascontiguousarray(f[..., ::-1]))
        writer.release()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_video(path: str | Path) -> np.ndarray:
    """Read every frame of a video as uint8 RGB ``[T, H, W, 3]``; a clear error when unreadable."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f[..., ::-1])
    cap.release()
    if not frames:
        raise ValueError(f"unreadable or empty video: {path}")
    return np.stack(frames)


def write_depth(path: str | Path, depth: np.ndarray) -> None:
    """``<video>.npz`` with key ``depth`` (float16 [T, H, W]), atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, depth=depth.astype(np.float16))
    fileio.atomic_write_bytes(path, buf.getvalue())


# ----------------------------------------------------------------------------- a generated tree
META_FILE = "synth_meta.json"


def run_generation(root: Path, meta: dict[str, Any], settings_keys: tuple[str, ...], names: list[str],
                   process: Callable[[str], VideoResult], is_complete: Callable[[str], bool], workers: int = 1,
                   overwrite: bool = False, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render ``names`` with ``process`` into ``root`` (resumable, parallel); returns the stage summary.

    A folder holding a dataset made with other ``settings_keys`` values is refused unless
    ``overwrite``; ``meta`` is written to ``synth_meta.json`` first.
    """
    root.mkdir(parents=True, exist_ok=True)
    meta_path = root / META_FILE
    if meta_path.is_file() and not overwrite:
        old = fileio.read_json(meta_path)
        diff = [k for k in settings_keys if old.get(k) != meta.get(k)]
        if diff:
            raise SystemExit(f"{root} holds a synthetic dataset made with other settings ({', '.join(diff)} differ); "
                             f"choose another --out or pass --overwrite")
    fileio.write_json(meta_path, meta)
    done = (lambda v: False) if overwrite else is_complete
    threads = cv2.getNumThreads()
    if workers > 1:
        cv2.setNumThreads(1)  # the worker processes (forked) share the cores already
    try:
        return run_stage("synth", names, process, root, workers=workers, is_finished=done, extra_summary=extra)
    finally:
        cv2.setNumThreads(threads)
