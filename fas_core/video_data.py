"""Which videos and frames a split uses: protocol lists joined with what is on disk.

Shared by every loader. A :class:`VideoEntry` knows its label (1 live, 0 attack), its attack
species (from the OULU file code, or given for generated data) and the 1-based indices of the
frames that are usable (a face box, or a crop-cache entry, exists).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import fileio
from .errors import UserError
from .oulu import ListFileError, list_path, read_list
from .scores import resolve_species


@dataclass
class VideoEntry:
    video: str
    label: int  # 1 live, 0 attack
    species: str | None  # live / print / replay / attack
    frames: list[int]  # usable 1-based frame indices, sorted


@dataclass(frozen=True)
class WorkPaths:
    """Where a config's data lives: ``data.frames``, ``data.depth``, ``data.crops``, ``data.lists``.

    Each empty key means its folder under ``data.work`` (the preprocessing work tree, docs/data.md):
    ``frames/``, ``depth/``, ``crops/`` (``crops_default`` for a cache made at another scale) and
    ``lists/``. Every method resolves its paths here.
    """

    work: Path
    frames: Path
    depth: Path
    crops: Path
    lists: Path

    @classmethod
    def from_config(cls, data: Mapping[str, Any], crops_default: str = "crops") -> WorkPaths:
        work = Path(data["work"])

        def pick(key: str, default: str) -> Path:
            return Path(data.get(key) or work / default)

        return cls(work, pick("frames", "frames"), pick("depth", "depth"), pick("crops", crops_default),
                   pick("lists", "lists"))

    def list_file(self, protocol: str, split: str) -> Path:
        """``<lists>/Protocol_<p>/{Train,Dev,Test}[_k].txt`` of a protocol split."""
        try:
            return list_path(self.lists, str(protocol), split)
        except ValueError as e:
            raise UserError(f"data.protocol: {e}") from None


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
        raise ListFileError(f"no usable video in {list_path} under {root}")
    return entries


def evenly_spaced(frames: list[int], n: int) -> list[int]:
    """``n`` frames spread evenly over the video (all of them when it has fewer)."""
    if len(frames) <= n:
        return list(frames)
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return [frames[i] for i in idx]
