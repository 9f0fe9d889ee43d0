"""Synthetic OULU-NPU: the toolkit's embedded default dataset (data.md, "Synthetic OULU-NPU").

    python -m data.synth --out datasets/synth_oulu --preset demo --seed 0 [--difficulty D] [--workers K]

Writes the OULU-NPU release layout, so every stage and loader that reads OULU-NPU reads it:

    DIR/{Train,Dev,Test}_files/<Phone>_<Session>_<User>_<File>.avi   MJPG videos
    DIR/Protocols/Protocol_{1,2,3,4}/...                              official lists (fas_core.oulu)
    DIR/true_depth/<video>.npz                                        live videos: key "depth",
                                                                      float16 [T, H, W] in [0, 1],
                                                                      larger = closer, 0 off the face
    DIR/synth_meta.json                                               settings and every identity
    DIR/summary.json                                                  videos, frames, failures

* 6 phones = 6 camera models (:data:`data.synth_render.PHONES`); 3 sessions = 3 lighting and
  room conditions (:data:`data.synth_render.SESSIONS`); users keep OULU's ranges (train 1-20,
  dev 21-35, test 36-55) and are distinct identities (:mod:`data.synth_face`).
* File 1: a live 3D head turning and nodding (yaw, pitch, roll, translation) in front of the
  room. Files 2, 3: a printed photo of the subject moved (and slightly bent) as a sheet.
  Files 4, 5: the subject's video on a screen moved as a plane (:mod:`data.synth_attacks`).
* ``--difficulty`` in [0, 1] scales the attack artefacts down (1: nearly invisible, only
  the rigid planar motion differs from a live head; 0: obvious). Above 0.6 the head pose
  shown by a photo or a replayed video also spreads towards the live head's range of poses
  (:meth:`SynthConfig.pose_match`; at 1 a single attack frame shows the poses a live frame
  shows, so that only the motion across frames tells them apart). The default, 0.6, keeps
  halftone and moiré visible but makes colour shifts small, so that the colour-histogram
  baseline (:mod:`data.baseline`) does not separate live from attacks (test ACER of at least
  10% on the demo preset's protocol 1).
* Deterministic: every video is drawn from a seed derived from ``(seed, video name)``, so the
  output does not depend on ``--workers`` or on which videos a preset keeps.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fas_core import fileio, oulu
from fas_core.stages import VideoResult, run_stage

from .synth_attacks import (
    DISPLAYS,
    PRINTERS,
    display_content,
    halftone,
    pixel_grid,
    print_content,
    reflection,
)
from .synth_face import HeadModel, build_head, derive_seed, make_identity
from .synth_render import (
    PHONES,
    SESSIONS,
    Camera,
    apply_matrix,
    apply_phone,
    background_view,
    over,
    render_plane,
    render_scene,
    rotation,
    session_background,
)

GENERATOR_VERSION = 2  # 2: attack content takes live-like poses above difficulty 0.6
DEFAULT_DIFFICULTY = 0.6
FPS = 30.0
FOCAL_PER_WIDTH = 0.87  # about 60 degrees horizontal field of view, as phone cameras
IOD_PER_WIDTH = 0.155  # inter-ocular distance in frame widths at the nominal distance
FACE_PLANE = 1.5  # depth of the face's front below the head's base plane (canonical units)


@dataclass(frozen=True)
class Preset:
    """Which part of OULU-NPU to generate, and at which frame size and length."""

    users: tuple[int, ...]
    phones: tuple[int, ...]
    sessions: tuple[int, ...]
    files: tuple[int, ...]
    frames: int
    width: int
    height: int
    description: str = ""

    def video_names(self) -> list[str]:
        names = [f"{p}_{s}_{u:02d}_{f}" for p in self.phones for s in self.sessions for u in self.users
                 for f in self.files]
        return sorted(names, key=oulu.sort_key)


PRESETS: dict[str, Preset] = {
    "tiny": Preset((1, 21, 36), (1,), (1, 2, 3), (1, 2, 3, 4, 5), 6, 160, 120,
                   "unit tests: 45 short small videos, protocol 1 has live, print and replay in each split"),
    "demo": Preset((1, 2, 3, 21, 22, 36, 37), (1, 2), (1, 2, 3), (1, 2, 3, 4, 5), 20, 320, 240,
                   "default: 210 videos (3 train, 2 dev, 2 test users; phones 1-2; all sessions and files)"),
    "full": Preset(tuple(oulu.USERS), tuple(oulu.PHONES), tuple(oulu.SESSIONS), tuple(oulu.FILES), 30, 640, 480,
                   "all 4950 videos of OULU-NPU"),
}


@dataclass(frozen=True)
class SynthConfig:
    """Generator settings; ``overrides`` replaces fields of the preset (e.g. ``{"users": (36,)}``)."""

    preset: str = "demo"
    seed: int = 0
    difficulty: float = DEFAULT_DIFFICULTY
    overrides: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def spec(self) -> Preset:
        base = PRESETS[self.preset]
        return Preset(**{**asdict(base), **self.overrides}) if self.overrides else base

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

    def camera(self) -> Camera:
        p = self.spec
        return Camera(p.width, p.height, FOCAL_PER_WIDTH * p.width, (p.width - 1) / 2.0, (p.height - 1) / 2.0)

    def nominal_distance(self) -> float:
        """Distance of the head's base plane so that the inter-ocular distance is IOD_PER_WIDTH."""
        return FOCAL_PER_WIDTH / IOD_PER_WIDTH + FACE_PLANE


@dataclass
class Video:
    """One generated video: frames (uint8 RGB), true depth of live videos, face boxes (x, y, w, h)."""

    name: str
    frames: np.ndarray  # T x H x W x 3 uint8 RGB
    depth: np.ndarray | None  # T x H x W float16 (live only)
    boxes: list[tuple[float, float, float, float] | None]


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


def _scene(cfg: SynthConfig, name: str, rng: np.random.Generator) -> _Scene:
    p = cfg.spec
    parsed = oulu.parse_video_name(name)
    cam = cfg.camera()
    z0 = cfg.nominal_distance()
    step = (0.88 * z0 - FACE_PLANE - 0.4) / (1.6 * cam.focal)  # >= 1.6 grid points per pixel when closest
    head = _head(cfg.seed, int(parsed.user), round(step, 6))
    z = z0 * rng.uniform(0.92, 1.08)
    # Eyes at about 40% of the frame height, the head roughly centred.
    y = (rng.uniform(0.37, 0.43) * p.height - cam.cy) / cam.focal * (z - FACE_PLANE)
    x = rng.uniform(-0.06, 0.06) * p.width / cam.focal * (z - FACE_PLANE)
    light = SESSIONS[int(parsed.session)]
    backdrop = session_background(cfg.seed, int(parsed.session), 2 * p.width, 2 * p.height)
    bg_offset = (float(rng.uniform(-0.15, 0.15) * p.width), float(rng.uniform(-0.1, 0.1) * p.height))
    shake = np.stack([_smooth_walk(rng, p.frames, 0.004 * p.width), _smooth_walk(rng, p.frames, 0.004 * p.width)], -1)
    return _Scene(cam, head, light, backdrop, bg_offset, np.array([x, y, z], np.float32), shake)


def _pose(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return rotation(m[0], m[1], m[2]), np.asarray(m[3:6], np.float32)


def _content_pose_offset(cfg: SynthConfig, name: str) -> np.ndarray:
    """``[yaw, pitch, roll, 0, 0, 0]`` added to the head pose an attack shows (zero at pose_match 0).

    Drawn like one frame of the live motion: amplitude from :data:`LIVE_ROTATION` times a random
    phase, scaled by :attr:`SynthConfig.pose_match`. A generator of its own keeps the videos
    of lower difficulties unchanged.
    """
    out = np.zeros(6)
    if cfg.pose_match <= 0:
        return out
    rng = np.random.default_rng(derive_seed(cfg.seed, "attack_pose", name))
    for k, amp in enumerate(LIVE_ROTATION):
        out[k] = np.radians(rng.uniform(*amp) * np.sin(rng.uniform(0, 2 * np.pi))) * cfg.pose_match
    return out


def _live(cfg: SynthConfig, sc: _Scene, rng: np.random.Generator) -> tuple[list, list, list]:
    n = cfg.spec.frames
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


def _plane_frames(cfg: SynthConfig, sc: _Scene, rng: np.random.Generator, contents: list[np.ndarray],
                  content_boxes: list, kind: str, code: int) -> tuple[list, list]:
    """Move a sheet (print) or a screen (replay) showing ``contents`` in front of the camera."""
    n = cfg.spec.frames
    a, ac = cfg.strength, cfg.colour_strength
    mot = motion(rng, n, PLANE_ROTATION, 0.25, 0.3)
    bend = float(rng.uniform(-0.08, 0.08)) if kind == "print" else 0.0
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
        if kind == "print":
            rgb = halftone(rgb, view, PRINTERS[code], a)
            # Paper reflects the room's light: its shade follows its orientation; the second
            # pass of the session's light colour over the photo shows at high strength.
            rgb = rgb * (view.shade * (1.0 - 0.12 * ac))[..., None] * (sc.light.tint() ** (0.5 * ac))
            glare = reflection(view, cam.focal, 0.08 * a)
        else:
            rgb = pixel_grid(rgb, view, DISPLAYS[code], a)
            glare = reflection(view, cam.focal, DISPLAYS[code].reflection * a)
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


def _content_camera(cfg: SynthConfig, kind: str) -> Camera:
    """The canvas a photo or a recorded video covers: small (border in view) when artefacts are strong."""
    p = cfg.spec
    zoom = (0.7 + 0.7 * cfg.difficulty) if kind == "print" else (0.75 + 0.65 * cfg.difficulty)
    return cfg.camera().with_canvas(int(round(p.width * zoom / 2)) * 2, int(round(p.height * zoom / 2)) * 2)


def _box_on_content(box, border: int):
    return None if box is None else (box[0] + border, box[1] + border, box[2], box[3])


def _print_attack(cfg: SynthConfig, sc: _Scene, rng: np.random.Generator, code: int,
                  offset: np.ndarray) -> tuple[list, list]:
    ccam = _content_camera(cfg, "print")
    pose = rng.normal(0, 1, 6) * np.array([np.radians(3), np.radians(3), np.radians(1), 0.05, 0.05, 0.0])
    rot, dt = _pose(pose + offset)
    photo, head = render_scene(sc.head, rot, sc.trans + dt, ccam, sc.light, sc.backdrop, sc.bg_offset)
    sheet = print_content(photo, PRINTERS[code], cfg.strength, cfg.colour_strength, rng)
    border = (sheet.shape[1] - photo.shape[1]) // 2
    return _plane_frames(cfg, sc, rng, [sheet], [_box_on_content(head.box, border)], "print", code)


def _replay_attack(cfg: SynthConfig, sc: _Scene, rng: np.random.Generator, code: int,
                   offset: np.ndarray) -> tuple[list, list]:
    ccam = _content_camera(cfg, "replay")
    n = cfg.spec.frames
    mot = motion(rng, n, RECORDED_ROTATION, 0.08, 0.1)
    screens, cboxes = [], []
    for t in range(n):
        rot, dt = _pose(mot[t] + offset)
        img, head = render_scene(sc.head, rot, sc.trans + dt, ccam, sc.light, sc.backdrop, sc.bg_offset)
        screen = display_content(img, DISPLAYS[code], cfg.strength, cfg.colour_strength)
        border = (screen.shape[1] - img.shape[1]) // 2
        screens.append(screen)
        cboxes.append(_box_on_content(head.box, border))
    return _plane_frames(cfg, sc, rng, screens, cboxes, "replay", code)


def render_video(cfg: SynthConfig, name: str) -> Video:
    """Render one video of the synthetic OULU-NPU (deterministic from ``cfg.seed`` and ``name``)."""
    parsed = oulu.parse_video_name(name)
    rng = np.random.default_rng(derive_seed(cfg.seed, "video", parsed.name))
    sc = _scene(cfg, parsed.name, rng)
    code = int(parsed.file)
    depth = None
    if code == 1:
        frames, depths, boxes = _live(cfg, sc, rng)
        depth = np.stack(depths).astype(np.float16)
    elif code in PRINTERS:
        frames, boxes = _print_attack(cfg, sc, rng, code, _content_pose_offset(cfg, parsed.name))
    elif code in DISPLAYS:
        frames, boxes = _replay_attack(cfg, sc, rng, code, _content_pose_offset(cfg, parsed.name))
    else:
        raise ValueError(f"{name}: file code {code} is not an OULU-NPU code (1 live, 2-3 print, 4-5 replay)")
    phone = PHONES[int(parsed.phone)]
    out = np.stack([apply_phone(f, phone, rng) for f in frames])
    return Video(parsed.name, out, depth, boxes)


# ----------------------------------------------------------------------------- files
def video_path(root: str | Path, name: str) -> Path:
    return Path(root) / oulu.folder_of(name) / f"{name}.avi"


def true_depth_path(root: str | Path, name: str) -> Path:
    return Path(root) / "true_depth" / f"{name}.npz"


def write_avi(path: str | Path, frames: np.ndarray, fps: float = FPS) -> None:
    """Write uint8 RGB frames as an MJPG .avi, atomically (temporary file in the same folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames.shape[1:3]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".avi")
    os.close(fd)
    try:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot write MJPG video {path} (no video writer backend?)")
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
        for f in frames:
            writer.write(np.ascontiguousarray(f[..., ::-1]))
        writer.release()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_avi(path: str | Path) -> np.ndarray:
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
    """``true_depth/<video>.npz`` with key ``depth`` (float16 [T, H, W]), atomically."""
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, depth=depth.astype(np.float16))
    fileio.atomic_write_bytes(path, buf.getvalue())


def _is_complete(root: Path, name: str) -> bool:
    if not video_path(root, name).is_file():
        return False
    return oulu.species_of(name) != "live" or true_depth_path(root, name).is_file()


def _make_video(cfg: SynthConfig, root: str, name: str) -> VideoResult:
    """Render and write one video (and its true depth); the stage runner's ``process``."""
    v = render_video(cfg, name)
    if v.depth is not None:
        write_depth(true_depth_path(root, name), v.depth)
    write_avi(video_path(root, name), v.frames)  # last: its presence marks the video done
    res = VideoResult(video=name, frames=len(v.frames), faces=sum(b is not None for b in v.boxes))
    if res.faces < res.frames:
        res.failures["face_out_of_frame"] += res.frames - res.faces
    return res


# ----------------------------------------------------------------------------- dataset
def meta_of(cfg: SynthConfig) -> dict[str, Any]:
    p = cfg.spec
    return {
        "generator": "data.synth", "version": GENERATOR_VERSION,
        "preset": cfg.preset, "seed": cfg.seed, "difficulty": cfg.difficulty,
        "frames": p.frames, "width": p.width, "height": p.height, "fps": FPS,
        "users": list(p.users), "phones": list(p.phones), "sessions": list(p.sessions), "files": list(p.files),
        "videos": len(p.video_names()),
        "sessions_lighting": {str(k): v.name for k, v in SESSIONS.items() if k in p.sessions},
        "phones_model": {str(k): asdict(v) for k, v in PHONES.items() if k in p.phones},
        "printers": {str(k): v.name for k, v in PRINTERS.items()},
        "displays": {str(k): v.name for k, v in DISPLAYS.items()},
        "identities": {f"{u:02d}": make_identity(cfg.seed, u).to_json() for u in p.users},
        "true_depth": "true_depth/<video>.npz key 'depth': float16 [T,H,W], 1 = frontal nose tip, "
                      "0 = head base plane, >= 0.02 on the face, exactly 0 off the face (live videos only)",
    }


_SETTINGS_KEYS = ("version", "preset", "seed", "difficulty", "frames", "width", "height", "users", "phones",
                  "sessions", "files")


def generate(cfg: SynthConfig, out: str | Path, workers: int = 1, overwrite: bool = False) -> dict[str, Any]:
    """Generate the dataset into ``out``; returns the stage summary. Reruns keep finished videos."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    meta = meta_of(cfg)
    meta_path = root / "synth_meta.json"
    if meta_path.is_file() and not overwrite:
        old = fileio.read_json(meta_path)
        diff = [k for k in _SETTINGS_KEYS if old.get(k) != meta.get(k)]
        if diff:
            raise SystemExit(f"{root} holds a synthetic dataset made with other settings ({', '.join(diff)} differ); "
                             f"choose another --out or pass --overwrite")
    names = cfg.spec.video_names()
    fileio.write_json(meta_path, meta)
    start = time.time()
    done = (lambda v: False) if overwrite else (lambda v: _is_complete(root, v))
    threads = cv2.getNumThreads()
    if workers > 1:
        cv2.setNumThreads(1)  # the worker processes (forked) share the cores already
    try:
        summary = run_stage("synth", names, functools.partial(_make_video, cfg, str(root)), root, workers=workers,
                            is_finished=done, extra_summary={"preset": cfg.preset, "seed": cfg.seed,
                                                             "difficulty": cfg.difficulty})
    finally:
        cv2.setNumThreads(threads)
    present = [v for v in names if _is_complete(root, v)]
    oulu.write_all_protocols(present, root / "Protocols")
    meta["seconds"] = round(time.time() - start, 2)
    meta["videos_written"] = len(present)
    fileio.write_json(meta_path, meta)
    return summary


def _difficulty(text: str) -> float:
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"difficulty must be in [0, 1], got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    presets = "\n".join(f"  {k}: {v.description} ({v.frames} frames of {v.width}x{v.height})"
                        for k, v in PRESETS.items())
    parser = argparse.ArgumentParser(
        prog="python -m data.synth",
        description="Generate the synthetic OULU-NPU (videos, protocol lists, true depth of live videos).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="presets:\n" + presets,
    )
    parser.add_argument("--out", required=True, help="output root (OULU-NPU layout)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo", help="size (default: demo)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    parser.add_argument("--difficulty", type=_difficulty, default=DEFAULT_DIFFICULTY,
                        help=f"attack artefact visibility, 0 obvious .. 1 nearly invisible (default: "
                             f"{DEFAULT_DIFFICULTY}: a colour-histogram baseline is not enough)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="regenerate every video even if the folder holds a finished or different dataset")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = SynthConfig(preset=args.preset, seed=args.seed, difficulty=args.difficulty)
    summary = generate(cfg, args.out, workers=max(1, args.workers), overwrite=args.overwrite)
    print(json.dumps({k: summary[k] for k in ("videos", "frames", "failures", "seconds")}))
    return 1 if summary["failures"].get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
