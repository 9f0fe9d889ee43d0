"""Finding a dataset's videos in a folder, and telling when the folder holds another dataset.

A video is a file with a video extension whose path relative to the root parses as one of the
dataset's videos, or a folder whose relative path does (a frame folder of a work tree, e.g.
``<work>/frames/train_release/1/HR_1/``; it is not searched further). Files that match no
pattern are kept by name, never guessed at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import fileio
from . import other_datasets
from .base import ENROL, VIDEO_EXTENSIONS, Dataset, VideoInfo, strip_video_extension


@dataclass
class ScanResult:
    """What a folder holds for one dataset."""

    root: Path
    videos: dict[str, VideoInfo] = field(default_factory=dict)  # by video id, enrolment videos excluded
    paths: dict[str, Path] = field(default_factory=dict)  # video id -> video file or frame folder
    unmatched: list[str] = field(default_factory=list)  # video files (relative paths) named like no video
    enrolment: list[str] = field(default_factory=list)  # enrolment video ids (never listed)

    @property
    def matched(self) -> int:
        return len(self.videos) + len(self.enrolment)


def _parse_or_none(dataset: Dataset, video_id: str) -> VideoInfo | None:
    try:
        return dataset.parse(video_id)
    except ValueError:
        return None


def _add(result: ScanResult, info: VideoInfo, path: Path) -> None:
    if info.split == ENROL:
        result.enrolment.append(info.video_id)
    elif info.video_id not in result.videos:  # a video file and its frame folder are one video
        result.videos[info.video_id] = info
        result.paths[info.video_id] = path


def scan_tree(dataset: Dataset, root: str | Path) -> ScanResult:
    """Every video of ``dataset`` under ``root`` (recursively); hidden files and folders are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"video folder not found: {root}")
    result = ScanResult(root)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        prefix = here.relative_to(root).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        keep = []
        for d in sorted(dirnames):
            info = None if d.startswith(".") else _parse_or_none(dataset, prefix + d)
            if info is not None:
                _add(result, info, here / d)  # a frame folder: its content is frames, not videos
            elif not d.startswith("."):
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            if f.startswith(".") or not f.lower().endswith(VIDEO_EXTENSIONS):
                continue
            info = _parse_or_none(dataset, strip_video_extension(prefix + f))
            if info is None:
                result.unmatched.append(prefix + f)
            else:
                _add(result, info, here / f)
    result.unmatched.sort()
    return result


def _root_hint(dataset: Dataset, ids: list[str], root: Path) -> str:
    """`` (its root seems to be ROOT/x)`` when the videos match once the first folder is dropped."""
    for video_id in ids:
        first, _, rest = video_id.partition("/")
        if rest and dataset.matches(rest):
            return f" (the {dataset.title} root seems to be {root / first})"
    return ""


def check_resemblance(dataset: Dataset, result: ScanResult) -> None:
    """Refuse a folder that holds another dataset, or none of ``dataset``'s videos (one-line ValueError)."""
    if result.matched > len(result.unmatched):
        return
    ids = [strip_video_extension(u) for u in result.unmatched]
    scores = [(sum(other.matches(i) for i in ids), other) for other in other_datasets(dataset.name)]
    hits, best = max(scores, key=lambda s: s[0]) if scores else (0, None)
    if best is not None and hits > result.matched:
        raise ValueError(f"{result.root} looks like a {best.title} tree ({hits} of {len(ids)} video files are named "
                         f"like {best.title} videos, {result.matched} like {dataset.title}): use dataset "
                         f"'{best.name}' or point --videos at a {dataset.title} tree")
    if result.matched == 0:
        found = f"{len(ids)} video files, none" if ids else "no video files"
        raise ValueError(f"no {dataset.title} videos under {result.root} ({found} named like {dataset.expected})"
                         + _root_hint(dataset, ids, result.root))


def find_dataset_videos(dataset: Dataset, root: str | Path) -> ScanResult:
    """:func:`scan_tree`, then the checks: the release's other files, and that this is the right dataset."""
    result = scan_tree(dataset, root)
    dataset.check_tree(result.root)
    check_resemblance(dataset, result)
    return result


def _is_frame_of(filename: str, video_basename: str) -> bool:
    m = fileio.FRAME_RE.match(filename)
    return m is not None and m.group("video") == video_basename


def frame_folder_ids(frames_root: str | Path) -> list[str]:
    """Video ids (relative ``/`` paths) of the folders under ``frames_root`` holding ``<name>_NNN_scene`` frames.

    A video id may contain folders (``train/real/client001_...``), so a work tree is searched
    recursively; a frame folder is not searched further.
    """
    frames_root = Path(frames_root)
    if not frames_root.is_dir():
        raise FileNotFoundError(f"frames folder not found: {frames_root}")
    out = []
    for dirpath, dirnames, filenames in os.walk(frames_root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        if here != frames_root and any(_is_frame_of(f, here.name) for f in filenames):
            out.append(here.relative_to(frames_root).as_posix())
            dirnames[:] = []
    return sorted(out)
