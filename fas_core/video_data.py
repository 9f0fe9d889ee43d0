"""Which videos and frames a split uses: protocol lists joined with what is on disk.

Shared by every loader. A :class:`VideoEntry` knows its label (1 live, 0 attack), its attack
species (from the OULU file code, or given for generated data) and the 1-based indices of the
frames that are usable (a face box, or a crop-cache entry, exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import fileio
from .oulu import read_list
from .scores import resolve_species


@dataclass
class VideoEntry:
    video: str
    label: int  # 1 live, 0 attack
    species: str | None  # live / print / replay / attack
    frames: list[int]  # usable 1-based frame indices, sorted


def frames_with_box(frames_root: str | Path, video: str) -> list[int]:
    """Frames of ``video`` that have a face box (``.dat``) next to them."""
    folder = Path(frames_root) / video
    return [i for i in fileio.list_frame_indices(folder, video) if fileio.bbox_path(frames_root, video, i).is_file()]


def frames_in_cache(crops_root: str | Path, video: str) -> list[int]:
    return fileio.list_frame_indices(Path(crops_root) / video, video)


def load_split(list_path: str | Path, root: str | Path, kind: str = "crops", allow_missing: bool = False,
               species_map: dict[str, str] | None = None) -> list[VideoEntry]:
    """Join a list file with the videos present under ``root`` (``kind``: ``crops`` or ``frames``).

    A listed video with no usable frame is an error naming the missing videos (count and the
    first names) unless ``allow_missing``; then it is skipped with a warning.
    """
    finder = frames_in_cache if kind == "crops" else frames_with_box
    entries, missing = [], []
    for video, label in read_list(list_path, zero_is_attack=True):
        frames = finder(root, video)
        if not frames:
            missing.append(video)
            continue
        species = resolve_species(video, label, (species_map or {}).get(video))
        entries.append(VideoEntry(video, label, species, frames))
    if missing:
        msg = (f"{len(missing)} video(s) of {list_path} have no usable frames under {root}: "
               + ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""))
        if not allow_missing:
            raise FileNotFoundError(msg + " (run the preprocessing, or set data.allow_missing=true to skip them)")
        print(f"warning: {msg}; skipped")
    if not entries:
        raise ValueError(f"no usable video in {list_path} under {root}")
    return entries


def evenly_spaced(frames: list[int], n: int) -> list[int]:
    """``n`` frames spread evenly over the video (all of them when it has fewer)."""
    if len(frames) <= n:
        return list(frames)
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in idx]
