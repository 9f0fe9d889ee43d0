"""Face detection (docs/data.md, stage 2): batched MTCNN boxes, landmarks and confidences per frame.

    python -m data.detect_faces --frames <work>/frames [--batch-size B] [--workers W] [--shard I/N]
        [--min-face-size PX] [--min-face-frac F] [--downscale F | --max-side PX] [--factor F] [--device cpu|cuda]

For every video folder ``<frames>/<video>/`` (frames ``<video>_<NNN>_scene.jpg``), MTCNN
(facenet-pytorch, weights inside the wheel) runs over the frames in batches, on copies
downscaled so that their longer side is at most ``--max-side`` pixels, looking for faces of at
least ``max(--min-face-size, --min-face-frac x shorter side)`` pixels, with an image pyramid of
scale step ``--factor``. The most confident face
of each frame gives

* ``<video>_<NNN>_scene.dat``: 4 lines x, y, w, h in full-frame pixels (CDCN / FAS-SGTD format);
* an entry in ``<video>/faces.json``: box, 5 landmarks (left eye, right eye, nose, mouth left,
  mouth right), confidence; ``null`` for a frame without a face (it gets no ``.dat``, and a
  stale one from an earlier run is removed). See :mod:`fas_core.face_detector`.

``faces.json`` is written last and marks the video as detected (the frame folder's ``.done``
belongs to frame extraction): a rerun skips videos that have it (``--overwrite`` redoes them).
Every file is written atomically, the detector runs on CPU with a fixed thread count and fixed
batches, so a run killed at any point and run again gives byte-identical outputs.
``<frames>/summary.json`` counts frames, faces and failures: ``no_face``, ``unreadable_frame``
(both named frame by frame), ``no_frames`` (a folder without frames), ``error`` (anything
unexpected, with its message). A video none of whose frames can be read gets no ``faces.json``.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fas_core import fileio
from fas_core.face_detector import (
    FACES_INDEX,
    PIPELINE_DETECTOR,
    Face,
    FaceDetector,
    faces_index_path,
    make_faces_index,
)
from fas_core.shards import Shard
from fas_core.stage_cli import stage_main, stage_parser
from fas_core.stages import VideoResult, find_frame_videos, frames_or_failure, run_stage

# The stage's defaults live in fas_core.face_detector (predict uses the same boxes as the test split).
DEFAULT_BATCH = 16
DEFAULT_MAX_SIDE = PIPELINE_DETECTOR["max_side"]
DEFAULT_MIN_FACE = PIPELINE_DETECTOR["min_face_size"]
DEFAULT_MIN_FACE_FRAC = PIPELINE_DETECTOR["min_face_frac"]
DEFAULT_FACTOR = PIPELINE_DETECTOR["factor"]

_DETECTORS: dict[tuple, FaceDetector] = {}  # one per worker process and setting


def default_detector(device: str = "cpu", batch_size: int = DEFAULT_BATCH) -> FaceDetector:
    """A detector with this stage's default settings (for benchmarks, tests and other tools)."""
    return FaceDetector(min_face_size=DEFAULT_MIN_FACE, min_face_frac=DEFAULT_MIN_FACE_FRAC, max_side=DEFAULT_MAX_SIDE,
                        factor=DEFAULT_FACTOR, batch_size=batch_size, device=device)


def resolve_device(device: str | None) -> str:
    """``None``/``auto`` -> cuda when available, else cpu (resolved inside each worker)."""
    if device in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def get_detector(settings: dict[str, Any], threads: int) -> FaceDetector:
    """The worker's detector for ``settings`` (made once per process; torch threads fixed for determinism)."""
    import torch

    torch.set_num_threads(max(1, threads))
    key = tuple(sorted(settings.items()))
    if key not in _DETECTORS:
        _DETECTORS[key] = FaceDetector(**settings)
    return _DETECTORS[key]


def _remove_stale(folder: Path, video: str, faces: dict[int, Face | None]) -> None:
    """Temp files of an interrupted write, and boxes of frames that now have no face."""
    for p in folder.iterdir():
        if p.name.startswith(".") and p.name.endswith(".tmp") and ("_scene.dat." in p.name or FACES_INDEX in p.name):
            p.unlink(missing_ok=True)
    for idx, face in faces.items():
        if face is None:
            fileio.bbox_path(folder.parent, video, idx).unlink(missing_ok=True)


def _read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(fileio.read_image(path), cv2.COLOR_BGR2RGB)


def _frame_file(frames_root: Path, video: str, idx: int) -> Path:
    for ext in ("jpg", "png"):
        p = fileio.frame_path(frames_root, video, idx, ext)
        if p.is_file():
            return p
    return fileio.frame_path(frames_root, video, idx)


def _detect_frames(res: VideoResult, frames_root: Path, indices: list[int], detector: FaceDetector,
                   batch_size: int) -> tuple[dict[int, Face | None], dict[int, tuple[int, int]], dict[int, str]]:
    """Faces, sizes and read failures of the frames ``indices`` (``None`` face: none found or unreadable)."""
    faces: dict[int, Face | None] = {}
    sizes: dict[int, tuple[int, int]] = {}
    failures: dict[int, str] = {}
    # Read and detect one batch at a time: a long full-HD video does not fit in memory at once.
    for start in range(0, len(indices), batch_size):
        images, ok = [], []
        for idx in indices[start:start + batch_size]:
            try:
                images.append(_read_rgb(_frame_file(frames_root, res.video, idx)))
                ok.append(idx)
            except (OSError, ValueError) as e:
                faces[idx] = None
                failures[idx] = "unreadable_frame"
                res.messages.append(f"{res.video}: {e}")
        for idx, img, face in zip(ok, images, detector.detect(images), strict=True):
            faces[idx] = face
            sizes[idx] = (img.shape[1], img.shape[0])
    return faces, sizes, failures


def detect_video(video: str, frames_root: str | Path, settings: dict[str, Any], batch_size: int = DEFAULT_BATCH,
                 threads: int = 1) -> VideoResult:
    """Detect faces in every frame of ``video``; write ``.dat`` boxes, then ``faces.json``.

    A video none of whose frames can be read fails and gets no ``faces.json``, so that a later
    run tries it again (after the permissions are fixed, say).
    """
    cv2.setNumThreads(1)  # parallelism comes from the process pool
    frames_root = Path(frames_root)
    folder = frames_root / video
    res = VideoResult(video=video)
    indices = frames_or_failure(res, folder)
    if not indices:
        return res
    detector = get_detector({**settings, "batch_size": batch_size}, threads)
    faces, sizes, failures = _detect_frames(res, frames_root, indices, detector, batch_size)
    res.frames = len(indices)
    for idx, kind in sorted(failures.items()):
        res.frame_failed(kind, idx)
    if not sizes:
        res.failed = True
        res.messages.append(f"{video}: none of its {len(indices)} frames could be read; left for a later run")
        return res
    _remove_stale(folder, video, faces)
    for idx in indices:
        face = faces[idx]
        if face is None:
            if idx not in failures:
                res.frame_failed("no_face", idx)
            continue
        fileio.write_bbox(fileio.bbox_path(frames_root, video, idx), face.box)
        res.faces += 1
    frame_size = sizes[min(sizes)]
    index = make_faces_index(video, frame_size, faces, sizes, failures, detector.settings())
    fileio.write_json(faces_index_path(frames_root, video), index)  # last: marks the video as detected
    return res


def detect_faces(frames_root: str | Path, batch_size: int = DEFAULT_BATCH, workers: int = 1, threads: int = 1,
                 min_face_size: float = DEFAULT_MIN_FACE, min_face_frac: float = DEFAULT_MIN_FACE_FRAC,
                 downscale: float | None = None, max_side: int | None = DEFAULT_MAX_SIDE,
                 factor: float = DEFAULT_FACTOR, device: str | None = None, overwrite: bool = False,
                 videos: list[str] | None = None, shard: Shard | None = None) -> dict[str, Any]:
    """Run face detection over every video folder under ``frames_root`` (those of ``shard``); returns the summary."""
    all_videos = find_frame_videos(frames_root)
    if videos:
        missing = sorted(set(videos) - set(all_videos))
        if missing:
            raise FileNotFoundError(f"no frame folder for video(s) {', '.join(missing)} under {frames_root}")
        all_videos = [v for v in all_videos if v in set(videos)]
    if not all_videos:
        raise ValueError(f"no video folders under {frames_root}")
    settings = {"min_face_size": float(min_face_size), "min_face_frac": float(min_face_frac), "downscale": downscale,
                "max_side": max_side, "factor": float(factor), "device": device or "auto"}
    FaceDetector.check_settings(**{k: v for k, v in settings.items() if k != "device"})
    process = functools.partial(_detect_video_auto, frames_root=str(frames_root), settings=settings,
                                batch_size=batch_size, threads=threads)
    root = Path(frames_root)
    return run_stage("detect_faces", all_videos, process, root, workers=workers, overwrite=overwrite, shard=shard,
                     is_finished=lambda v: faces_index_path(root, v).is_file(),
                     extra_summary={"detector": {**settings, "batch_size": batch_size, "threads": threads}})


def _detect_video_auto(video: str, frames_root: str, settings: dict[str, Any], batch_size: int,
                       threads: int) -> VideoResult:
    """Resolve ``device='auto'`` inside the worker (never initialise CUDA before the pool forks)."""
    return detect_video(video, frames_root, {**settings, "device": resolve_device(settings["device"])}, batch_size,
                        threads)


def build_parser() -> argparse.ArgumentParser:
    p = stage_parser(
        "detect_faces", "Detect the most confident face per frame with MTCNN (facenet-pytorch); write <video>_<NNN>"
                        "_scene.dat boxes (x, y, w, h) and a per-video faces.json (box, 5 landmarks, confidence).",
        {"--frames": "frames root: <frames>/<video>/<video>_<NNN>_scene.jpg"})
    p.add_argument("--batch-size", "--batch", dest="batch_size", type=int, default=DEFAULT_BATCH,
                   help=f"frames per MTCNN call (default {DEFAULT_BATCH})")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    p.add_argument("--min-face-size", type=float, default=DEFAULT_MIN_FACE,
                   help=f"smallest face in full-frame pixels (default {DEFAULT_MIN_FACE:g})")
    p.add_argument("--min-face-frac", type=float, default=DEFAULT_MIN_FACE_FRAC,
                   help="smallest face as a fraction of the frame's shorter side; the larger of the two minimums "
                        f"applies (default {DEFAULT_MIN_FACE_FRAC:g}; 0 turns it off)")
    p.add_argument("--downscale", type=float, default=None, help="detect on frames shrunk by this factor (0-1]")
    p.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE,
                   help=f"detect on frames shrunk to this longer side (default {DEFAULT_MAX_SIDE}; 0: full size)")
    p.add_argument("--factor", type=float, default=DEFAULT_FACTOR,
                   help=f"scale step of MTCNN's image pyramid (default {DEFAULT_FACTOR:g}; MTCNN's own: 0.709)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda when available)")
    p.add_argument("--overwrite", action="store_true", help="redo videos that already have faces.json")
    p.add_argument("--videos", nargs="+", default=None, help="only these video folders")
    return p


def main(argv: list[str] | None = None) -> int:
    def run(a: argparse.Namespace) -> dict[str, Any]:
        return detect_faces(a.frames, batch_size=a.batch_size, workers=a.workers, threads=a.threads,
                            min_face_size=a.min_face_size, min_face_frac=a.min_face_frac, downscale=a.downscale,
                            max_side=a.max_side or None, factor=a.factor, device=a.device, overwrite=a.overwrite,
                            videos=a.videos, shard=a.shard)

    return stage_main("detect_faces", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
