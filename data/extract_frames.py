"""Frame extraction (docs/data.md, stage 1).

    python -m data.extract_frames --videos DIR --out <work>/frames [--every K] [--max-frames N] [--workers W]
        [--shard I/N]

Every video file under ``--videos`` (recursively: ``*.avi``, ``*.mp4``, ``*.mov``) gives
``<out>/<video>/<video>_<NNN>_scene.jpg``: source frames 0, K, 2K, ... numbered 1, 2, 3, ...
by the frames actually written (1-based, 3 digits: the CDCN / FAS-SGTD convention; the
DSDG script never advanced its counter and kept one frame per video).

Resumable (a video whose folder holds ``.done`` is skipped; frames are written atomically),
parallel over videos (``--shard i/n``: a part of them), with a progress bar and
``<out>/summary.json``. A video that cannot be opened or decoded is counted as
``corrupt_video``, one this account may not read as ``unreadable_video``, one without frames as
``empty_video``, one that stops decoding well before its announced length as
``truncated_video``. A frame the decoder could not decode fully (the last one of a cut file,
whose missing part would come out as grey blocks) is dropped and counted as ``damaged_frame``,
named by its number in the source video (:mod:`fas_core.video_read`). None of them stops the
stage; a run where no video gave a frame exits 1. The summary is also kept as
``<out>/extract_frames_summary.json``, because face detection writes its own ``summary.json``
into the same root.
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
from fas_core.shards import Shard
from fas_core.stage_cli import stage_main, stage_parser
from fas_core.stages import SUMMARY, VideoResult, remove_temp_files, run_stage
from fas_core.video_read import CheckedCapture

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


def _unusable_file(video: str, src: Path) -> tuple[str, str] | None:
    """``(failure kind, message)`` for a file that cannot be decoded at all, before trying to."""
    if src.stat().st_size == 0:
        return "empty_video", f"{video}: empty file {src}"
    try:
        fileio.check_readable(src, "video")
    except PermissionError as e:
        return "unreadable_video", f"{video}: {e}"
    return None


def _write_frames(cap: CheckedCapture, res: VideoResult, out_root: Path, every: int, max_frames: int | None,
                  quality: int) -> tuple[int, int, bool]:
    """Write every ``every``-th frame that decodes fully; ``(frames decoded, frames written, reached the end)``.

    A frame the decoder reported an error for (a cut file's last frame, damaged data) is dropped
    and counted as ``damaged_frame`` under its number in the source video.
    """
    decoded = written = 0
    while max_frames is None or written < max_frames:
        frame, errors = cap.read()
        if frame is None:
            return decoded, written, True
        decoded += 1
        if (decoded - 1) % every:
            continue
        if errors:
            res.frame_failed("damaged_frame", decoded, f"{res.video}: source frame {decoded} did not decode fully "
                                                       f"({errors[-1]}); dropped")
            continue
        written += 1  # the counter the DSDG script forgot to advance
        fileio.write_image(fileio.frame_path(out_root, res.video, written), frame, jpeg_quality=quality)
    return decoded, written, False


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
    problem = _unusable_file(video, src)
    if problem:
        return res.fail(*problem)
    with CheckedCapture(src) as cap:
        if not cap.is_opened():
            return res.fail("corrupt_video", f"{video}: cannot open {src} (corrupt or unsupported format)")
        announced = cap.announced_frames()
        remove_temp_files(folder)
        decoded, written, reached_end = _write_frames(cap, res, out_root, every, max_frames, quality)
    if written == 0:
        kind = "corrupt_video" if announced > 0 or decoded > 0 else "empty_video"
        return res.fail(kind, f"{video}: no frame could be decoded fully from {src} ({announced} announced)")
    if reached_end and announced > 0 and decoded < 0.9 * announced:
        # Keep what was decoded, but say so: the file is damaged after frame `decoded`.
        res.failures["truncated_video"] += 1
        res.messages.append(f"{video}: decoded {decoded} of {announced} announced frames of {src}")
    _remove_frames_after(folder, video, keep=written)
    res.frames = written
    fileio.mark_done(folder)
    return res


def extract_frames(videos_dir: str | Path, out_root: str | Path, every: int = 1, max_frames: int | None = None,
                   workers: int = 1, quality: int = 95, shard: Shard | None = None) -> dict[str, Any]:
    """Run the stage over every video under ``videos_dir`` (those of ``shard``); returns (and writes) the summary."""
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
    # data.detect_faces writes its own summary.json into the same root; keep this one as SUMMARY_COPY too.
    return run_stage("extract_frames", list(videos), process, out_root, workers=workers, shard=shard,
                     summary_names=(SUMMARY, SUMMARY_COPY),
                     extra_summary={"videos_dir": str(videos_dir), "every": every, "max_frames": max_frames})


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
        return extract_frames(a.videos, a.out, a.every, a.max_frames, a.workers, a.quality, a.shard)

    return stage_main("extract_frames", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
