"""Frame extraction (data.md, stage 1).

    python -m data.extract_frames --videos DIR --out <work>/frames [--every K] [--max-frames N] [--workers W]

Every video file under ``--videos`` (recursively: ``*.avi``, ``*.mp4``, ``*.mov``) gives
``<out>/<video>/<video>_<NNN>_scene.jpg``: source frames 0, K, 2K, ... numbered 1, 2, 3, ...
by the frames actually written (1-based, 3 digits: the CDCN / FAS-SGTD convention; the
DSDG script never advanced its counter and kept one frame per video).

Resumable (a video whose folder holds ``.done`` is skipped; frames are written atomically),
parallel over videos, with a progress bar and ``<out>/summary.json``. A video that cannot be
opened or decoded is counted as ``corrupt_video``, one without frames as ``empty_video``,
one that stops decoding well before its announced length as ``truncated_video``; none of
them stops the stage. The summary is also kept as ``<out>/extract_frames_summary.json``,
because face detection writes its own ``summary.json`` into the same root.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path
from typing import Any

import cv2

from fas_core import fileio
from fas_core.oulu import VIDEO_EXTENSIONS
from fas_core.stage_cli import stage_main, stage_parser
from fas_core.stages import VideoResult, remove_temp_files, run_stage

# Video name -> file. Filled before the worker pool forks, so workers inherit it instead of
# receiving the whole mapping with every task.
_VIDEO_PATHS: dict[str, Path] = {}
SUMMARY_COPY = "extract_frames_summary.json"


def find_videos(root: str | Path) -> dict[str, Path]:
    """Map video name (file stem) -> path for the video files under ``root``, searched recursively.

    Two files with the same stem would write into the same frame folder, so that is an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"video folder not found: {root}")
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if f.lower().endswith(VIDEO_EXTENSIONS) and not f.startswith("."):
                path = Path(dirpath) / f
                stem = path.stem
                if stem in found:
                    raise ValueError(f"two videos named '{stem}': {found[stem]} and {path}")
                found[stem] = path
    return dict(sorted(found.items()))


def _remove_frames_after(folder: Path, video: str, keep: int) -> None:
    """Frames numbered above ``keep``: left by an interrupted run with other --every/--max-frames."""
    for idx in fileio.list_frame_indices(folder, video):
        if idx > keep:
            fileio.frame_path(folder.parent, video, idx).unlink(missing_ok=True)


def extract_video(video: str, out_root: str | Path, every: int = 1, max_frames: int | None = None,
                  quality: int = 95, path: str | Path | None = None) -> VideoResult:
    """Write every ``every``-th frame of one video (at most ``max_frames``); mark the folder done.

    ``path`` defaults to the file registered by :func:`extract_frames` for ``video``.
    """
    cv2.setNumThreads(1)  # parallelism comes from the process pool
    out_root = Path(out_root)
    src = Path(path) if path is not None else _VIDEO_PATHS[video]
    folder = out_root / video
    res = VideoResult(video=video)
    if src.stat().st_size == 0:
        res.failures["empty_video"] += 1
        res.messages.append(f"{video}: empty file {src}")
        return res
    cap = cv2.VideoCapture(str(src))
    try:
        if not cap.isOpened():
            res.failures["corrupt_video"] += 1
            res.messages.append(f"{video}: cannot open {src} (corrupt or unsupported format)")
            return res
        announced = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        remove_temp_files(folder)
        decoded = written = 0
        reached_end = True
        while True:
            if max_frames is not None and written >= max_frames:
                reached_end = False
                break
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            if decoded % every == 0:
                written += 1  # the counter the DSDG script forgot to advance
                fileio.write_image(fileio.frame_path(out_root, video, written), frame, jpeg_quality=quality)
            decoded += 1
    finally:
        cap.release()
    if decoded == 0:
        kind = "corrupt_video" if announced > 0 else "empty_video"
        res.failures[kind] += 1
        res.messages.append(f"{video}: no frame could be decoded from {src} ({announced} announced)")
        return res
    if reached_end and announced > 0 and decoded < 0.9 * announced:
        # Keep what was decoded, but say so: the file is damaged after frame `decoded`.
        res.failures["truncated_video"] += 1
        res.messages.append(f"{video}: decoded {decoded} of {announced} announced frames of {src}")
    _remove_frames_after(folder, video, keep=written)
    res.frames = written
    fileio.mark_done(folder)
    return res


def extract_frames(videos_dir: str | Path, out_root: str | Path, every: int = 1, max_frames: int | None = None,
                   workers: int = 1, quality: int = 95) -> dict[str, Any]:
    """Run the stage over every video under ``videos_dir``; returns (and writes) the summary."""
    if every < 1:
        raise ValueError(f"--every must be at least 1, got {every}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"--max-frames must be at least 1, got {max_frames}")
    videos = find_videos(videos_dir)
    if not videos:
        raise ValueError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) found under {videos_dir}")
    _VIDEO_PATHS.clear()
    _VIDEO_PATHS.update(videos)
    process = functools.partial(extract_video, out_root=str(out_root), every=every, max_frames=max_frames,
                                quality=quality)
    summary = run_stage("extract_frames", list(videos), process, out_root, workers=workers,
                        extra_summary={"videos_dir": str(videos_dir), "every": every, "max_frames": max_frames})
    # data.detect_faces writes its own summary.json into the same root; keep this one too.
    fileio.write_json(Path(out_root) / SUMMARY_COPY, summary)
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "extract_frames", "Extract frames of every video under a folder to <out>/<video>/<video>_<NNN>_scene.jpg.",
        {"--videos": "folder searched recursively for *.avi, *.mp4, *.mov", "--out": "frames root, e.g. <work>/frames"})
    parser.add_argument("--every", type=int, default=1, help="keep every K-th frame (default 1: all)")
    parser.add_argument("--max-frames", type=int, default=None, help="at most N frames per video (default: all)")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    return parser


def main(argv: list[str] | None = None) -> int:
    def run(a: argparse.Namespace) -> dict[str, Any]:
        return extract_frames(a.videos, a.out, a.every, a.max_frames, a.workers, a.quality)

    return stage_main("extract_frames", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
