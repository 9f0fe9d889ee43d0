"""Frame extraction (docs/data.md, stage 1; other datasets: docs/datasets.md, "Preprocessing").

    python -m data.extract_frames --videos DIR --out <work>/frames [--dataset NAME] [--every K] [--max-frames N]
        [--train-max-frames N] [--spread K [--spread-offset S]] [--max-side PX] [--workers W] [--shard I/N]

The videos under ``--videos`` are found with the dataset's scanner (``--dataset``, default
``oulu``; :func:`fas_core.datasets.scan.find_dataset_videos`): every file named like one of the
dataset's videos, by its video id. A folder holding another dataset is refused. Each video gives
``<out>/<video id>/<name>_<NNN>_scene.jpg``, ``<name>`` being the id's last part (OULU-NPU's ids
are flat: ``<out>/1_1_01_1/1_1_01_1_001_scene.jpg``; CASIA-FASD's are not:
``<out>/train_release/1/HR_1/HR_1_001_scene.jpg``), numbered 1, 2, 3, ... by the frames
actually written (1-based, 3 digits: the CDCN / FAS-SGTD convention; the DSDG script never
advanced its counter and kept one frame per video).

Which source frames (0-based) are written:

* ``--every K``: frames 0, K, 2K, ... (default 1: all), at most ``--max-frames N`` of them;
* ``--train-max-frames N``: at most N frames of each video of the release's training split
  (SiW protocol 1 trains on the first 60 frames of every Train video and tests on all);
* ``--spread K``: the cross-domain papers' frames ``S + j * floor(n / K)``, j = 0..K-1, of a
  video of n frames (``--spread-offset S``, default 6); a video shorter than that gives its
  last frame for the indices past its end (and no frame twice).

Frames come out upright and bounded: the videos a dataset stores upside down
(:attr:`fas_core.datasets.base.VideoInfo.upside_down`, five MSU-MFSD android videos) are turned
by 180 degrees, and ``--max-side PX`` shrinks frames whose longer side exceeds it (SiW's 1080p
videos: about 6 MB of JPEG per second of video at full size). ``<video>/source_frames.json``
records the source frame of every written frame, the turn and the scale, so that face boxes
shipped with the dataset (``data.detect_faces --boxes shipped``) land on the written frames.

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
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fas_core import fileio
from fas_core.datasets import DATASETS, get_dataset
from fas_core.datasets.scan import find_dataset_videos
from fas_core.shards import Shard
from fas_core.stage_cli import stage_main, stage_parser
from fas_core.stages import SUMMARY, VideoResult, remove_temp_files, run_stage
from fas_core.video_read import CheckedCapture

SUMMARY_COPY = "extract_frames_summary.json"
SOURCE_INDEX = "source_frames.json"  # per video: written frame -> source frame, turn and scale
DEFAULT_SPREAD_OFFSET = 6  # the cross-domain papers' first frame


@dataclass(frozen=True)
class FrameRule:
    """Which source frames a video gives (see the module docstring)."""

    every: int = 1
    max_frames: int | None = None
    train_max_frames: int | None = None
    spread: int | None = None
    spread_offset: int = DEFAULT_SPREAD_OFFSET
    max_side: int | None = None

    def check(self) -> None:
        for name in ("every", "max_frames", "train_max_frames", "spread", "max_side"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.spread_offset < 0:
            raise ValueError(f"--spread-offset must be at least 0, got {self.spread_offset}")
        if self.spread is not None and (self.every != 1 or self.max_frames is not None):
            raise ValueError("--spread picks its own frames: it takes neither --every nor --max-frames")

    def cap_for(self, release_split: str) -> int | None:
        """The most frames a video of this release split may give."""
        caps = [c for c in (self.max_frames, self.train_max_frames if release_split == "train" else None) if c]
        return min(caps) if caps else None


@dataclass(frozen=True)
class Job:
    """One video to extract: its file and what its dataset says about it."""

    path: Path
    upside_down: bool = False
    release_split: str = ""


# Video id -> job. Filled before the worker pool forks, so workers inherit it instead of
# receiving the whole mapping with every task.
_JOBS: dict[str, Job] = {}


def find_videos(root: str | Path, dataset: str = "oulu") -> dict[str, Path]:
    """Video id -> file of the ``dataset`` videos under ``root`` (the dataset's scanner, its checks included)."""
    return {video: job.path for video, job in find_jobs(root, dataset).items()}


def find_jobs(root: str | Path, dataset: str = "oulu") -> dict[str, Job]:
    """Video id -> :class:`Job` for the video files of ``dataset`` under ``root`` (frame folders are not videos)."""
    result = find_dataset_videos(get_dataset(dataset), root)
    jobs = {}
    for video, path in result.paths.items():
        if path.is_file():
            info = result.videos[video]
            jobs[video] = Job(path, info.upside_down, info.release_split)
    return dict(sorted(jobs.items()))


def spread_indices(n: int, k: int, offset: int = DEFAULT_SPREAD_OFFSET) -> list[int]:
    """The frames ``offset + j * floor(n / k)`` (j < k) of a video of ``n`` frames, kept inside it, each once."""
    if n <= 0:
        return []
    return sorted({min(offset + j * (n // k), n - 1) for j in range(k)})


def count_frames(path: Path) -> int:
    """Frames a video really has (decoded, not announced: containers misreport it)."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    n = 0
    try:
        while cap.grab():
            n += 1
    finally:
        cap.release()
    return n


def _remove_frames_after(out_root: Path, video: str, keep: int) -> None:
    """Frames numbered above ``keep``: left by an interrupted run with another frame rule."""
    for idx in fileio.list_frame_indices(out_root / video, video):
        if idx > keep:
            fileio.frame_path(out_root, video, idx).unlink(missing_ok=True)


def _unusable_file(video: str, src: Path) -> tuple[str, str] | None:
    """``(failure kind, message)`` for a file that cannot be decoded at all, before trying to."""
    if src.stat().st_size == 0:
        return "empty_video", f"{video}: empty file {src}"
    try:
        fileio.check_readable(src, "video")
    except PermissionError as e:
        return "unreadable_video", f"{video}: {e}"
    return None


def _scale_of(frame: np.ndarray, max_side: int | None) -> float:
    side = max(frame.shape[:2])
    return 1.0 if not max_side or side <= max_side else max_side / side


def upright(frame: np.ndarray, turn: bool, scale: float) -> np.ndarray:
    """The frame turned by 180 degrees when stored upside down, shrunk by ``scale`` (area averaging)."""
    if turn:
        frame = cv2.rotate(frame, cv2.ROTATE_180)
    if scale != 1.0:
        h, w = frame.shape[:2]
        frame = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return frame


@dataclass
class Written:
    """What one video's extraction wrote."""

    decoded: int = 0
    sources: dict[int, int] | None = None  # written frame (1-based) -> source frame (0-based)
    reached_end: bool = False
    size: tuple[int, int] | None = None  # source frame (W, H)
    scale: float = 1.0


def _write_frames(cap: CheckedCapture, res: VideoResult, out_root: Path, wanted: Callable[[int], bool],
                  last: int | None, cap_frames: int | None, job: Job, rule: FrameRule, quality: int) -> Written:
    """Write the wanted frames that decode fully, turned and scaled.

    A frame the decoder reported an error for (a cut file's last frame, damaged data) is dropped
    and counted as ``damaged_frame`` under its number in the source video.
    """
    out = Written(sources={})
    while cap_frames is None or len(out.sources) < cap_frames:
        if last is not None and out.decoded > last:
            return out
        frame, errors = cap.read()
        if frame is None:
            out.reached_end = True
            return out
        out.decoded += 1
        if not wanted(out.decoded - 1):
            continue
        if errors:
            res.frame_failed("damaged_frame", out.decoded, f"{res.video}: source frame {out.decoded} did not decode "
                                                           f"fully ({errors[-1]}); dropped")
            continue
        if out.size is None:
            out.size, out.scale = (frame.shape[1], frame.shape[0]), _scale_of(frame, rule.max_side)
        written = len(out.sources) + 1  # the counter the DSDG script forgot to advance
        image = upright(frame, job.upside_down, out.scale)
        fileio.write_image(fileio.frame_path(out_root, res.video, written), image, jpeg_quality=quality)
        out.sources[written] = out.decoded - 1
    return out


def _selection(job: Job, rule: FrameRule) -> tuple[Callable[[int], bool], int | None]:
    """``(wanted(source index), last source index to read or None)`` of a video under ``rule``."""
    if rule.spread is None:
        return (lambda i: i % rule.every == 0), None
    chosen = set(spread_indices(count_frames(job.path), rule.spread, rule.spread_offset))
    return chosen.__contains__, max(chosen, default=-1)


def _source_index(video: str, job: Job, written: Written) -> dict[str, Any]:
    return {"video": video, "source": job.path.name, "frame_size": list(written.size or ()),
            "turned_180": job.upside_down, "scale": written.scale,
            "frames": {f"{k:03d}": v for k, v in sorted((written.sources or {}).items())}}


def extract_video(video: str, out_root: str | Path, rule: FrameRule = FrameRule(), quality: int = 95,
                  job: Job | None = None) -> VideoResult:
    """Write the frames ``rule`` picks from one video (``job``: default the registered one); mark the folder done."""
    cv2.setNumThreads(1)  # parallelism comes from the process pool
    out_root = Path(out_root)
    job = job or _JOBS[video]
    folder = out_root / video
    res = VideoResult(video=video)
    problem = _unusable_file(video, job.path)
    if problem:
        return res.fail(*problem)
    with CheckedCapture(job.path) as cap:
        if not cap.is_opened():
            return res.fail("corrupt_video", f"{video}: cannot open {job.path} (corrupt or unsupported format)")
        announced = cap.announced_frames()
        remove_temp_files(folder)
        wanted, last = _selection(job, rule)
        written = _write_frames(cap, res, out_root, wanted, last, rule.cap_for(job.release_split), job, rule, quality)
    n = len(written.sources or {})
    if n == 0:
        kind = "corrupt_video" if announced > 0 or written.decoded > 0 else "empty_video"
        return res.fail(kind, f"{video}: no frame could be decoded fully from {job.path} ({announced} announced)")
    if written.reached_end and announced > 0 and written.decoded < 0.9 * announced:
        # Keep what was decoded, but say so: the file is damaged after frame `decoded`.
        res.failures["truncated_video"] += 1
        res.messages.append(f"{video}: decoded {written.decoded} of {announced} announced frames of {job.path}")
    _remove_frames_after(out_root, video, keep=n)
    fileio.write_json(folder / SOURCE_INDEX, _source_index(video, job, written))
    res.frames = n
    fileio.mark_done(folder)
    return res


def extract_frames(videos_dir: str | Path, out_root: str | Path, every: int = 1, max_frames: int | None = None,
                   workers: int = 1, quality: int = 95, shard: Shard | None = None, dataset: str = "oulu",
                   rule: FrameRule | None = None) -> dict[str, Any]:
    """Run the stage over the ``dataset`` videos under ``videos_dir`` (those of ``shard``); returns (and writes) the
    summary. ``rule`` (when given) replaces ``every`` and ``max_frames``."""
    rule = rule or FrameRule(every=every, max_frames=max_frames)
    rule.check()
    jobs = find_jobs(videos_dir, dataset)
    if not jobs:
        raise ValueError(f"no video files of {get_dataset(dataset).title} found under {videos_dir}")
    _JOBS.clear()
    _JOBS.update(jobs)
    process = functools.partial(extract_video, out_root=str(out_root), rule=rule, quality=quality)
    extra = {"videos_dir": str(videos_dir), "dataset": dataset, "every": rule.every, "max_frames": rule.max_frames,
             "rule": asdict(rule), "turned_180": sorted(v for v, j in jobs.items() if j.upside_down)}
    # data.detect_faces writes its own summary.json into the same root; keep this one as SUMMARY_COPY too.
    return run_stage("extract_frames", list(jobs), process, out_root, workers=workers, shard=shard,
                     summary_names=(SUMMARY, SUMMARY_COPY), extra_summary=extra)


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "extract_frames", "Extract frames of every video of a dataset under a folder to "
                          "<out>/<video id>/<name>_<NNN>_scene.jpg.",
        {"--videos": "dataset root, searched recursively for its videos (*.avi, *.mp4, *.mov)",
         "--out": "frames root, e.g. <work>/frames"})
    parser.add_argument("--dataset", choices=DATASETS, default="oulu", help="whose naming the videos follow "
                        "(default oulu)")
    parser.add_argument("--every", type=int, default=1, help="keep every K-th frame (default 1: all)")
    parser.add_argument("--max-frames", type=int, default=None, help="at most N frames per video (default: all)")
    parser.add_argument("--train-max-frames", type=int, default=None,
                        help="at most N frames of each video of the release's training split (SiW P1: 60)")
    parser.add_argument("--spread", type=int, default=None,
                        help="K frames offset + j * floor(n / K) per video (the cross-domain papers' frames)")
    parser.add_argument("--spread-offset", type=int, default=DEFAULT_SPREAD_OFFSET,
                        help=f"first frame of --spread (default {DEFAULT_SPREAD_OFFSET})")
    parser.add_argument("--max-side", type=int, default=None, help="shrink frames whose longer side exceeds PX")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    return parser


def main(argv: list[str] | None = None) -> int:
    def run(a: argparse.Namespace) -> dict[str, Any]:
        rule = FrameRule(a.every, a.max_frames, a.train_max_frames, a.spread, a.spread_offset, a.max_side)
        return extract_frames(a.videos, a.out, workers=a.workers, quality=a.quality, shard=a.shard,
                              dataset=a.dataset, rule=rule)

    return stage_main("extract_frames", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
