"""Liveness prediction on images, folders of images, video files and a camera.

    python -m fas_core.predict --checkpoint CKPT INPUT... [--save DIR] [--json OUT]
    python -m fas_core.predict --checkpoint CDCN_U_P1.pkl --method cdcn_u --threshold 0.5 photo.jpg
    python -m fas_core.predict --checkpoint CKPT --camera 0 --max-frames 100

Every frame goes through MTCNN (:mod:`fas_core.face_detector`); every face found is cropped at
the checkpoint's test scale (1.3, ``cdcn_dum.md`` / ``fas_sgtd.md``: test crop), resized to the
model input, normalised as the checkpoint's metadata says and scored by the method's
``score_faces`` (:mod:`fas_core.methods`). A face is live when its score is at least the
threshold (the dev threshold ``test.py`` stored in the checkpoint, metrics.md), else an attack.

The multi-frame model (checkpoint ``meta["clip"] = {"frames": T, "interval": k}``) scores clips
of T frames taken k frames apart; the faces are detected on the first frame of the clip and the
same box crops every frame of it (fas_sgtd.md: one crop per clip). It needs a video, a folder of
frames (read in name order as one sequence) or a camera.

A frame without a face is reported as such and never scored. Exit status: 0 when every input
had a face, 3 when at least one input had none (``EXIT_NO_FACE``), 1 when an input could not be
read or processed, 2 for a usage error (such as a checkpoint without a threshold and no
``--threshold``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from .crop import RESIZE_MODES, crop_face
from .errors import UserError
from .face_depth import face_depth_crop
from .face_detector import PIPELINE_DETECTOR, Face, FaceDetector
from .fileio import bbox_as_stored, write_image, write_json
from .method import Method, on_output_grid
from .methods import Restored, method_names, restore

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NO_FACE = 0, 1, 2, 3
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
VIDEO_EXTS = {".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".3gp"}
DEFAULT_CROP_SCALE = 1.3  # the test crop of both papers
LIVE_BGR, ATTACK_BGR = (40, 200, 40), (40, 40, 230)


class UsageError(ValueError):
    """A problem with the command line or the checkpoint's metadata (exit status 2)."""


# ---------------------------------------------------------------------------------- the model
@dataclass
class LoadedModel:
    """A network ready to score faces, with everything its checkpoint says about inference."""

    model: nn.Module
    meta: dict[str, Any]
    module: Method
    device: torch.device
    threshold: float | None
    threshold_source: str  # "checkpoint", "--threshold" or "none"
    source: str

    @property
    def method(self) -> str:
        return str(self.meta["method"])

    @property
    def clip(self) -> tuple[int, int] | None:
        """``(frames, interval)`` for the multi-frame model, ``None`` for single-frame models."""
        clip = self.meta.get("clip")
        if not clip:
            return None
        return int(clip["frames"]), int(clip.get("interval", 1))

    @property
    def input_hw(self) -> tuple[int, int]:
        return input_hw(self.meta)

    @property
    def crop_scale(self) -> float:
        return float(self.meta.get("crop_scale") or DEFAULT_CROP_SCALE)


def input_hw(meta: Mapping[str, Any]) -> tuple[int, int]:
    """Model input ``(height, width)`` from ``meta["input_size"]`` (an int, or ``[h, w]``)."""
    size = meta.get("input_size")
    if size is None:
        raise UsageError("checkpoint metadata has no 'input_size'")
    if isinstance(size, (int, float)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def load_model(checkpoint: str | Path, method: str | None = None, threshold: float | None = None,
               device: str | torch.device = "cpu", fuse: bool = False) -> LoadedModel:
    """Rebuild and load the network of a checkpoint from its record; an original release needs ``method``.

    ``threshold`` overrides the checkpoint's dev threshold. ``fuse`` folds CDC and fuses BatchNorm
    into convolutions (:func:`fas_core.fuse.fuse_model`): the same function up to float rounding.
    """
    try:
        restored = restore(checkpoint, method)
    except UserError as e:
        raise UsageError(str(e)) from None
    if restored.method.score is None:
        raise UsageError(f"{checkpoint} is a {restored.method.name} checkpoint: it scores no faces")
    model = restored.model.eval()
    if fuse:
        from .fuse import fuse_model

        model = fuse_model(model)
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    model.to(dev)
    record = restored.record
    if threshold is not None:
        thr, src = float(threshold), "--threshold"
    elif record.threshold is not None:
        thr, src = float(record.threshold), "checkpoint"
    else:
        thr, src = None, "none"
    return LoadedModel(model=model, meta=_meta_view(restored), module=restored.method, device=dev, threshold=thr,
                       threshold_source=src, source=str(checkpoint))


def _meta_view(restored: Restored) -> dict[str, Any]:
    """What the predictor reads of a checkpoint, from its record."""
    r = restored.record
    spec = r.input
    return {"method": r.method, "input_size": spec.size, "normalisation": spec.normalisation(),
            "crop_scale": spec.crop_scale, "crop_cache": spec.crop_cache.to_dict() if spec.crop_cache else None,
            "clip": {"frames": spec.clip_frames, "interval": spec.clip_interval} if spec.is_clip else None,
            "threshold": r.threshold, "score_rule": r.score_rule, "depth_size": spec.depth_size}


# ------------------------------------------------------------------------- crop and normalise
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


def crop_faces(frame_rgb: np.ndarray, boxes: Sequence[Sequence[float]], scale: float,
               hw: tuple[int, int], via: Mapping[str, Any] | None = None) -> np.ndarray:
    """Crops ``[N, H, W, 3]`` (uint8) of ``boxes`` scaled by ``scale`` around their centres.

    ``via`` (a checkpoint's ``meta["crop_cache"]``: ``size``, ``jpeg_quality``, ``resize``) makes
    them as a model trained on the offline crop cache saw its faces: cropped to the cache size,
    JPEG encoded and decoded as ``data.crop`` stores them, then resized to the input size.
    """
    h, w = hw
    if not boxes:
        return np.zeros((0, h, w, 3), np.uint8)
    if not via:
        return np.stack([crop_face(frame_rgb, tuple(b), scale, (w, h)) for b in boxes])
    return np.stack([_as_cached(crop_face(frame_rgb, tuple(b), scale, int(via["size"])), via, (w, h)) for b in boxes])


def _as_cached(face_rgb: np.ndarray, via: Mapping[str, Any], wh: tuple[int, int]) -> np.ndarray:
    quality = via.get("jpeg_quality")
    if quality:  # the cache's files are BGR JPEGs (the chroma planes depend on the channel order)
        bgr = cv2.cvtColor(face_rgb, cv2.COLOR_RGB2BGR)
        _, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        face_rgb = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    if face_rgb.shape[1::-1] == tuple(wh):
        return face_rgb
    return cv2.resize(face_rgb, wh, interpolation=RESIZE_MODES[str(via.get("resize", "linear"))])


# --------------------------------------------------------------------------------- prediction
@dataclass
class FaceResult:
    box: tuple[float, float, float, float]
    confidence: float
    score: float
    live: bool | None  # None when there is no threshold
    depth: np.ndarray = field(repr=False)  # [h, w] predicted depth map
    landmarks: np.ndarray | None = field(default=None, repr=False)  # [5, 2] MTCNN landmarks

    def to_json(self) -> dict[str, Any]:
        marks = None if self.landmarks is None else [[round(float(x), 2), round(float(y), 2)]
                                                     for x, y in np.asarray(self.landmarks)]
        return {"box": [round(float(v), 2) for v in self.box], "landmarks": marks,
                "confidence": round(self.confidence, 5),
                "score": float(self.score), "decision": decision_word(self.live),
                "depth_mean": float(np.mean(self.depth)), "depth_size": list(self.depth.shape)}


def decision_word(live: bool | None) -> str:
    return "undecided" if live is None else ("live" if live else "attack")


class Predictor:
    """Detection, crop, normalisation and scoring of one loaded model (single frames or clips)."""

    def __init__(self, loaded: LoadedModel, detector: FaceDetector, min_confidence: float = 0.9,
                 batch_size: int = 16) -> None:
        self.loaded = loaded
        self.detector = detector
        self.min_confidence = float(min_confidence)
        self.batch_size = max(1, int(batch_size))

    # -- the three steps, separately (the benchmark times each)
    def detect(self, frames_rgb: Sequence[np.ndarray]) -> list[list[Face]]:
        """All faces of each frame above ``min_confidence``, most confident first."""
        found = self.detector.detect_all(list(frames_rgb))
        return [[f for f in faces if f.confidence >= self.min_confidence] for faces in found]

    def prepare(self, frame_rgb: np.ndarray | Sequence[np.ndarray], faces: Sequence[Face]) -> torch.Tensor:
        """Normalised crops ``[N, 3, H, W]`` of a frame, or ``[N, T, 3, H, W]`` of a clip."""
        boxes = [bbox_as_stored(f.box) for f in faces]  # whole pixels, as the .dat files the test crops came from
        meta, hw, scale = self.loaded.meta, self.loaded.input_hw, self.loaded.crop_scale
        via = meta.get("crop_cache")
        if isinstance(frame_rgb, np.ndarray):
            crops = crop_faces(frame_rgb, boxes, scale, hw, via)
        else:  # a clip: the same box crops every frame -> [N, T, H, W, 3]
            crops = np.stack([crop_faces(fr, boxes, scale, hw, via) for fr in frame_rgb], axis=1)
        return torch.from_numpy(normalise(crops, meta["normalisation"]))

    def face_depth(self, frame_rgb: np.ndarray | Sequence[np.ndarray], faces: Sequence[Face]) -> torch.Tensor:
        """``[N, H, W]`` built-in depth maps of the faces (a clip's first frame), cropped like the input.

        The method masks its score with them as ``test.py`` masked with the split's depth maps, so
        that scores meet the checkpoint's dev threshold (fas_core/methods.py).
        """
        frame = frame_rgb if isinstance(frame_rgb, np.ndarray) else frame_rgb[0]
        size = (frame.shape[1], frame.shape[0])
        h, w = self.loaded.input_hw
        interp = cv2.INTER_AREA  # as the FAS-SGTD loaders shrink frame-sized depth maps
        via = self.loaded.meta.get("crop_cache") or {}
        if via.get("depth_size"):  # as the crop cache's depth crops: linear resize to their size
            h = w = int(via["depth_size"])
            interp = cv2.INTER_LINEAR
        scale = self.loaded.crop_scale
        maps = [face_depth_crop(size, bbox_as_stored(f.box), f.landmarks, scale, (w, h), interp) for f in faces]
        return torch.from_numpy(np.stack(maps) if maps else np.zeros((0, h, w), np.float32))

    @torch.no_grad()
    def run_model(self, inputs: torch.Tensor, face_depth: torch.Tensor | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``[N]`` and depth maps ``[N, h, w]`` of prepared inputs (and their face depth maps), in batches."""
        scores, depths = [], []
        for start in range(0, len(inputs), self.batch_size):
            x = inputs[start:start + self.batch_size].to(self.loaded.device)
            fd = None if face_depth is None else face_depth[start:start + self.batch_size].to(self.loaded.device)
            face_map = None if fd is None else on_output_grid(fd, (self.loaded.meta["depth_size"],) * 2)
            s, d = self.loaded.module.score(self.loaded.model, x, face_map, self.loaded.meta["score_rule"],
                                            self.loaded.crop_scale)
            scores.append(s.detach().float().cpu().reshape(-1).numpy())
            depths.append(d.detach().float().cpu().reshape(len(x), *d.shape[-2:]).numpy())
        if not scores:
            return np.zeros(0, np.float32), np.zeros((0, 1, 1), np.float32)
        return np.concatenate(scores), np.concatenate(depths)

    def decide(self, score: float) -> bool | None:
        thr = self.loaded.threshold
        return None if thr is None else bool(score >= thr)

    # -- whole frames and clips
    def predict_frames(self, frames_rgb: Sequence[np.ndarray]) -> list[list[FaceResult]]:
        """Per frame, the scored faces (an empty list when the frame has none)."""
        faces = self.detect(frames_rgb)
        pairs = [(fr, fs) for fr, fs in zip(frames_rgb, faces, strict=True) if fs]
        if not pairs:
            return [[] for _ in frames_rgb]
        inputs = torch.cat([self.prepare(fr, fs) for fr, fs in pairs])
        scores, depths = self.run_model(inputs, torch.cat([self.face_depth(fr, fs) for fr, fs in pairs]))
        return self._assemble(faces, scores, depths)

    def predict_clip(self, clip_rgb: Sequence[np.ndarray]) -> list[FaceResult]:
        """Scored faces of one clip (faces found on its first frame)."""
        faces = self.detect([clip_rgb[0]])[0]
        if not faces:
            return []
        scores, depths = self.run_model(self.prepare(list(clip_rgb), faces), self.face_depth(clip_rgb[0], faces))
        return self._assemble([faces], scores, depths)[0]

    def _assemble(self, faces: list[list[Face]], scores: np.ndarray, depths: np.ndarray) -> list[list[FaceResult]]:
        out, k = [], 0
        for fs in faces:
            row = []
            for f in fs:
                s = float(scores[k])
                row.append(FaceResult(box=tuple(float(v) for v in f.box), confidence=float(f.confidence), score=s,
                                      live=self.decide(s), depth=depths[k], landmarks=np.asarray(f.landmarks)))
                k += 1
            out.append(row)
        return out


# ------------------------------------------------------------------------------------- inputs
@dataclass
class Source:
    kind: str  # "image", "video", "frames" (a folder read as one sequence) or "camera"
    name: str
    files: list[Path] = field(default_factory=list)
    camera: int | None = None


def _kind_of(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS:
        return "image"
    if ext in VIDEO_EXTS:
        return "video"
    return "unknown"


def expand_inputs(inputs: Sequence[str], clip_mode: bool) -> tuple[list[Source], list[tuple[str, str]]]:
    """Sources for the command-line inputs, and ``(input, message)`` for each unusable one.

    A folder gives its images (each scored alone; with a multi-frame model, read in name order
    as one frame sequence) and its videos; files of unknown type are tried as an image.
    """
    sources, errors = [], []
    for text in inputs:
        p = Path(text)
        if p.is_dir():
            files = sorted(q for q in p.iterdir() if q.is_file())
            images = [q for q in files if _kind_of(q) == "image"]
            videos = [q for q in files if _kind_of(q) == "video"]
            if not images and not videos:
                errors.append((str(p), f"{p}: folder holds no images or videos"))
            if images and clip_mode:
                sources.append(Source("frames", str(p), images))
            else:
                sources += [Source("image", str(q), [q]) for q in images]
            sources += [Source("video", str(q), [q]) for q in videos]
        elif p.is_file():
            kind = _kind_of(p)
            sources.append(Source("image" if kind == "unknown" else kind, str(p), [p]))
        else:
            errors.append((str(p), f"{p}: no such file or folder"))
    return sources, errors


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8; the error names the file."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def iter_frames(source: Source) -> tuple[Iterator[tuple[int, np.ndarray]], float]:
    """``(index, RGB frame)`` pairs (1-based) of a video, frame folder or camera, and its fps."""
    if source.kind == "frames":
        return ((i + 1, read_rgb(f)) for i, f in enumerate(source.files)), 30.0
    cap = cv2.VideoCapture(source.camera if source.kind == "camera" else str(source.files[0]))
    if not cap.isOpened():
        what = f"camera {source.camera}" if source.kind == "camera" else f"{source.name}: not a readable video"
        raise ValueError(f"could not open {what}")
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if fps and math.isfinite(fps) and 1 <= fps <= 240 else 30.0

    def gen() -> Iterator[tuple[int, np.ndarray]]:
        i = 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                i += 1
                yield i, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()

    return gen(), fps


# ---------------------------------------------------------------------------------- drawing
def depth_to_image(depth: np.ndarray, size: int) -> np.ndarray:
    """A depth map (about 0..1) as a ``size x size`` grey BGR tile."""
    d = np.clip(np.nan_to_num(np.asarray(depth, np.float32)), 0.0, 1.0)
    tile = cv2.resize((d * 255).round().astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(tile, cv2.COLOR_GRAY2BGR)


def annotate(frame_rgb: np.ndarray, faces: Sequence[FaceResult] | None, threshold: float | None,
             note: str | None = None) -> np.ndarray:
    """BGR canvas: the frame with boxes, scores and decisions, and the depth maps in a column beside it.

    ``faces=None`` means "not scored yet" (a video before its first result); an empty list
    means no face was found. The panel width depends only on the frame height, so every frame of a
    video gives the same canvas size.
    """
    img = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    fscale = max(0.4, max(h, w) / 1000)
    for i, f in enumerate(faces or []):
        colour = LIVE_BGR if f.live else ATTACK_BGR
        x, y, bw, bh = (int(round(v)) for v in f.box)
        cv2.rectangle(img, (x, y), (x + bw, y + bh), colour, thick)
        label = f"{i + 1}: {decision_word(f.live)} {f.score:.3f}"
        cv2.putText(img, label, (max(0, x), max(int(14 * fscale), y - 4)), cv2.FONT_HERSHEY_SIMPLEX, fscale, colour,
                    thick, cv2.LINE_AA)
    status = note or ("no face found" if faces is not None and not faces else None)
    thr_text = "threshold " + ("none" if threshold is None else f"{threshold:.4f}")
    for row, text in enumerate(t for t in (thr_text, status) if t):
        cv2.putText(img, text, (4, int((row + 1) * 22 * fscale)), cv2.FONT_HERSHEY_SIMPLEX, fscale, (255, 255, 255),
                    thick, cv2.LINE_AA)
    panel_w = int(np.clip(h // 2, 96, 256))
    panel = np.zeros((h, panel_w, 3), np.uint8)
    if faces:
        tile = max(8, min(panel_w, h // len(faces)))
        for i, f in enumerate(faces[: max(1, h // tile)]):
            y0 = i * tile
            panel[y0:y0 + tile, :tile] = depth_to_image(f.depth, tile)
            colour = LIVE_BGR if f.live else ATTACK_BGR
            # a frame in the decision colour: an all-black (flat) map stays visible
            cv2.rectangle(panel, (0, y0), (tile - 1, y0 + tile - 1), colour, 1)
            cv2.putText(panel, f"depth {i + 1}", (3, y0 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return np.hstack([img, panel])


class VideoSink:
    """Annotated frames -> a video file (mp4v ``.mp4``; MJPG ``.avi`` when mp4 cannot be written)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps, self.writer = path, fps, None

    def write(self, canvas: np.ndarray) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            size = (canvas.shape[1], canvas.shape[0])
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
            if not self.writer.isOpened():
                self.path = self.path.with_suffix(".avi")
                self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"MJPG"), self.fps, size)
            if not self.writer.isOpened():
                raise OSError(f"could not write video {self.path}")
        self.writer.write(canvas)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


# ------------------------------------------------------------------------------------ running
@contextlib.contextmanager
def _stream(sink: VideoSink | None, rec: dict[str, Any]) -> Iterator[None]:
    """Around a frame loop: Ctrl-C ends the input early (what was scored is kept), the video is closed."""
    try:
        yield
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        if sink is not None:
            sink.close()
            rec["saved"] = [str(sink.path)]


class Run:
    """Processes sources, prints one line per face and keeps what ``--json`` and the exit status need."""

    def __init__(self, predictor: Predictor, save_dir: Path | None = None, every: int = 1,
                 clip_stride: int | None = None, max_frames: int | None = None, quiet: bool = False,
                 out: Any = None) -> None:
        self.p = predictor
        self.save_dir = save_dir
        self.every = max(1, int(every))
        self.clip_stride = clip_stride
        self.max_frames = max_frames
        self.quiet = quiet
        self.out = out  # None: whatever sys.stdout is when printing
        self.records: list[dict[str, Any]] = []
        self.no_face: list[str] = []
        self.failed: list[str] = []
        self._saved_names: set[str] = set()

    @property
    def threshold(self) -> float | None:
        return self.p.loaded.threshold

    def emit(self, line: str) -> None:
        print(line, file=self.out or sys.stdout, flush=True)

    def face_lines(self, label: str, faces: Sequence[FaceResult]) -> None:
        if not faces:
            self.emit(f"{label} no face found (not scored)")
            return
        thr = "none" if self.threshold is None else f"{self.threshold:.4f}"
        for i, f in enumerate(faces):
            x, y, w, h = (int(round(v)) for v in f.box)
            self.emit(f"{label} face={i + 1}/{len(faces)} score={f.score:.4f} decision={decision_word(f.live)} "
                      f"threshold={thr} box={x},{y},{w},{h} confidence={f.confidence:.3f}")

    def _save_name(self, name: str, suffix: str) -> Path:
        """A unique output path in ``save_dir`` from an input's name (inputs may share a stem)."""
        assert self.save_dir is not None
        stem = Path(name).stem if name else "camera"
        candidate, k = f"{stem}{suffix}", 1
        while candidate in self._saved_names:
            k += 1
            candidate = f"{stem}_{k}{suffix}"
        self._saved_names.add(candidate)
        return self.save_dir / candidate

    # -- sources
    def run(self, sources: Sequence[Source]) -> None:
        for src in sources:
            try:
                if src.kind == "image":
                    self.run_image(src)
                elif self.p.loaded.clip is not None:
                    self.run_clips(src)
                else:
                    self.run_video(src)
            except (OSError, ValueError, RuntimeError, cv2.error) as e:
                self.failed.append(src.name)
                print(f"error: {e}", file=sys.stderr, flush=True)

    def run_image(self, src: Source) -> None:
        if self.p.loaded.clip is not None:
            frames, interval = self.p.loaded.clip
            raise ValueError(f"{src.name}: the multi-frame model scores clips of {frames} frames {interval} apart; "
                             f"give a video, a folder of frames or a camera, not a single image")
        frame = read_rgb(src.files[0])
        faces = self.p.predict_frames([frame])[0]
        self.face_lines(src.name, faces)
        if not faces:
            self.no_face.append(src.name)
        rec: dict[str, Any] = {"input": src.name, "kind": "image", "faces": [f.to_json() for f in faces]}
        if self.save_dir is not None:
            out = self._save_name(src.name, "_pred.png")
            write_image(out, annotate(frame, faces, self.threshold))
            rec["saved"] = [str(out)]
            for i, f in enumerate(faces):
                dpath = out.with_name(out.stem.removesuffix("_pred") + f"_face{i + 1}_depth.png")
                write_image(dpath, (np.clip(f.depth, 0, 1) * 255).round().astype(np.uint8))
                rec["saved"].append(str(dpath))
        self.records.append(rec)

    def _frames(self, src: Source) -> tuple[Iterator[tuple[int, np.ndarray]], float]:
        it, fps = iter_frames(src)
        if self.max_frames is not None:
            it = (pair for pair in it if pair[0] <= self.max_frames)
        return it, fps

    def _sink(self, src: Source, fps: float) -> VideoSink | None:
        if self.save_dir is None:
            return None
        return VideoSink(self._save_name(src.name or "camera", "_pred.mp4"), fps)

    def run_video(self, src: Source) -> None:
        """Single-frame model on every ``every``-th frame; the video score is the mean of the first face."""
        frames, fps = self._frames(src)
        sink = self._sink(src, fps)
        rec = {"input": src.name, "kind": src.kind, "frames": []}
        latest: list[FaceResult] | None = None
        n_read = 0
        # a camera answers frame by frame; files are read in batches (faster detection)
        batch = 1 if src.kind == "camera" else self.p.batch_size
        with _stream(sink, rec):
            chunk: list[tuple[int, np.ndarray]] = []
            for idx, frame in frames:
                n_read = idx
                chunk.append((idx, frame))
                if sum(1 for i, _ in chunk if (i - 1) % self.every == 0) >= batch:
                    latest = self._video_chunk(src, chunk, rec, sink, latest)
                    chunk = []
            if chunk:
                latest = self._video_chunk(src, chunk, rec, sink, latest)
        self._finish_sequence(src, rec, n_read, "frames")

    def _video_chunk(self, src: Source, chunk: list[tuple[int, np.ndarray]], rec: dict, sink: VideoSink | None,
                     latest: list[FaceResult] | None) -> list[FaceResult] | None:
        picked = [(i, fr) for i, fr in chunk if (i - 1) % self.every == 0]
        results = dict(zip([i for i, _ in picked], self.p.predict_frames([fr for _, fr in picked]), strict=True))
        for idx, frame in chunk:
            if idx in results:
                latest = results[idx]
                self._record_step(src, rec, idx, latest, "frame")
            if sink is not None:
                sink.write(annotate(frame, latest, self.threshold))
        return latest

    def run_clips(self, src: Source) -> None:
        """Multi-frame model: clips of T frames k apart, a new clip every ``clip_stride`` frames."""
        t, k = self.p.loaded.clip  # type: ignore[misc]
        span = (t - 1) * k + 1
        stride = self.clip_stride or span
        frames, fps = self._frames(src)
        sink = self._sink(src, fps)
        rec = {"input": src.name, "kind": src.kind, "clip": {"frames": t, "interval": k, "stride": stride},
               "frames": []}
        buf: deque[tuple[int, np.ndarray]] = deque(maxlen=span)
        next_start, latest, n_read = 1, None, 0
        with _stream(sink, rec):
            for idx, frame in frames:
                n_read = idx
                buf.append((idx, frame))
                if len(buf) == span and buf[0][0] == next_start:
                    latest = self.p.predict_clip([fr for _, fr in list(buf)[::k]])
                    self._record_step(src, rec, next_start, latest, "clip")
                    next_start += stride
                if sink is not None:
                    note = None if latest is not None else f"collecting {span} frames for a clip"
                    sink.write(annotate(frame, latest, self.threshold, note=note))
        if n_read and n_read < span:
            raise ValueError(f"{src.name}: {n_read} frames, too short for one clip of {t} frames {k} apart "
                             f"({span} frames needed)")
        self._finish_sequence(src, rec, n_read, "clips")

    def _record_step(self, src: Source, rec: dict, idx: int, faces: list[FaceResult], what: str) -> None:
        rec["frames"].append({"frame": idx, "faces": [f.to_json() for f in faces]})
        if not self.quiet:
            self.face_lines(f"{src.name} {what}={idx}", faces)

    def _finish_sequence(self, src: Source, rec: dict[str, Any], n_read: int, unit: str) -> None:
        """Video summary: mean score of the most confident face over the scored frames/clips (metrics.md)."""
        steps = rec["frames"]
        firsts = [s["faces"][0]["score"] for s in steps if s["faces"]]
        summary: dict[str, Any] = {"frames_read": n_read, unit: len(steps), f"{unit}_with_face": len(firsts)}
        if n_read == 0:
            raise ValueError(f"{src.name}: no frames could be read")
        if firsts:
            score = float(np.mean(firsts))
            live = self.p.decide(score)
            summary.update(score=score, decision=decision_word(live))
            thr = "none" if self.threshold is None else f"{self.threshold:.4f}"
            self.emit(f"{src.name} summary {unit}={len(steps)} with_face={len(firsts)} score={score:.4f} "
                      f"decision={decision_word(live)} threshold={thr}")
        else:
            self.no_face.append(src.name)
            self.emit(f"{src.name} summary {unit}={len(steps)} no face found (not scored)")
        rec["summary"] = summary
        self.records.append(rec)

    def exit_code(self) -> int:
        if self.failed:
            return EXIT_ERROR
        return EXIT_NO_FACE if self.no_face else EXIT_OK


# ---------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fas_core.predict",
        description="Face anti-spoofing on images, folders, videos or a camera: MTCNN finds every face, each is "
                    "cropped at the checkpoint's test scale and scored; prints one line per face: score "
                    "(higher = live), decision (live when score >= threshold) and the threshold used.",
        epilog="Exit status: 0 every input had a face; 3 some input had no face (reported, never scored); "
               "1 an input could not be read; 2 usage error (e.g. no threshold). Output lines look like "
               "'photo.jpg face=1/1 score=0.8731 decision=live threshold=0.5120 box=180,61,88,111 "
               "confidence=1.000' (videos: 'clip.avi frame=12 face=...', then a 'summary' line).")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image, folder of images/videos, or video file")
    p.add_argument("--checkpoint", required=True, help="checkpoint written by train.py/test.py, or an original "
                   "release (with --method)")
    p.add_argument("--method", choices=method_names(), default=None,
                   help="method of a checkpoint without metadata (original releases such as DUM's CDCN_U_P1.pkl)")
    p.add_argument("--threshold", type=float, default=None,
                   help="decision threshold; default: the dev threshold stored in the checkpoint by test.py")
    p.add_argument("--camera", type=int, default=None, metavar="N", help="read camera N (cv2.VideoCapture index)")
    p.add_argument("--save", default=None, metavar="DIR", help="write annotated frames with depth maps (PNG; "
                   "videos: an annotated .mp4) into DIR")
    p.add_argument("--json", default=None, metavar="OUT", help="write all results as JSON")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--min-face", type=float, default=PIPELINE_DETECTOR["min_face_size"],
                   help="smallest face side to detect, in pixels (default: %(default)s)")
    p.add_argument("--min-face-frac", type=float, default=PIPELINE_DETECTOR["min_face_frac"],
                   help="smallest face side as a fraction of the frame's shorter side; lower it for small faces, "
                        "0 turns it off (default: %(default)s)")
    p.add_argument("--min-confidence", type=float, default=0.9,
                   help="MTCNN confidence below which a face is ignored (default: %(default)s)")
    p.add_argument("--detect-max-side", type=int, default=int(PIPELINE_DETECTOR["max_side"]),
                   help="frames larger than this are downscaled for detection; boxes map back to full size "
                        "(default: %(default)s)")
    p.add_argument("--pyramid-factor", type=float, default=PIPELINE_DETECTOR["factor"],
                   help="scale step of MTCNN's image pyramid (default: %(default)s). The detector defaults are "
                        "data.detect_faces's, so faces are cut from the boxes the test split was cut with")
    p.add_argument("--batch-size", type=int, default=16,
                   help="frames per detection batch and faces per model batch (default: %(default)s)")
    p.add_argument("--every", type=int, default=1,
                   help="single-frame model on video: score every N-th frame (default: %(default)s)")
    p.add_argument("--clip-stride", type=int, default=None,
                   help="multi-frame model: frames between clip starts (default: one clip span, no overlap)")
    p.add_argument("--max-frames", type=int, default=None, help="stop a video or the camera after this many frames")
    p.add_argument("--quiet", action="store_true", help="videos: print only the summary line")
    p.add_argument("--no-fuse", action="store_true",
                   help="run the network as trained (default: CDC folded and BatchNorm fused, same scores, faster)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.inputs and args.camera is None:
        parser.error("give at least one INPUT or --camera N")
    if args.threshold is not None and not math.isfinite(args.threshold):
        parser.error("--threshold must be a finite number")
    if args.threads:
        torch.set_num_threads(args.threads)
    from .dist import choose_device

    try:
        device = choose_device(args.device)
        loaded = load_model(args.checkpoint, method=args.method, threshold=args.threshold, device=device,
                            fuse=not args.no_fuse)
    except UsageError as e:
        parser.error(str(e))
    except (FileNotFoundError, RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    if loaded.threshold is None:
        parser.error(f"checkpoint {args.checkpoint} has no dev threshold (test.py stores one after testing on the "
                     f"dev set): pass --threshold T")
    if loaded.threshold_source == "--threshold" and loaded.meta.get("threshold") is not None:
        print(f"note: using --threshold {loaded.threshold:.4f} instead of the checkpoint's "
              f"{float(loaded.meta['threshold']):.4f}", file=sys.stderr)
    sources, errors = expand_inputs(args.inputs, clip_mode=loaded.clip is not None)
    if args.camera is not None:
        sources.append(Source("camera", f"camera{args.camera}", camera=args.camera))
    for _, message in errors:
        print(f"error: {message}", file=sys.stderr)
    detector = FaceDetector(min_face_size=args.min_face, min_face_frac=args.min_face_frac,
                            max_side=args.detect_max_side, factor=args.pyramid_factor, batch_size=args.batch_size,
                            device=str(device))
    predictor = Predictor(loaded, detector, min_confidence=args.min_confidence, batch_size=args.batch_size)
    run = Run(predictor, save_dir=Path(args.save) if args.save else None, every=args.every,
              clip_stride=args.clip_stride, max_frames=args.max_frames, quiet=args.quiet)
    run.run(sources)
    run.failed += [name for name, _ in errors]
    if args.json:
        write_json(args.json, {"checkpoint": str(args.checkpoint), "method": loaded.method,
                               "threshold": loaded.threshold, "threshold_source": loaded.threshold_source,
                               "crop_scale": loaded.crop_scale, "input_size": list(loaded.input_hw),
                               "clip": loaded.meta.get("clip"), "results": run.records, "no_face": run.no_face,
                               "failed": run.failed})
    code = run.exit_code()
    if run.no_face:
        print(f"no face found in {len(run.no_face)} input(s): {', '.join(run.no_face)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
