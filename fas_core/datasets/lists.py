"""Protocol list files of any dataset: ``label,video_id`` lines (docs/datasets.md, "List files").

The label is ``+1`` live, ``-1`` print, ``-2`` replay, as OULU-NPU's official lists write them,
so :func:`fas_core.oulu.read_list` reads every list; :func:`read_list_species` gives back the
species the labels carry (for datasets whose names, unlike OULU's, a score file cannot decode).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import fileio
from .base import SPECIES, SPECIES_OF_LABEL, SPLITS, Dataset, VideoInfo, list_line


def protocol_videos(dataset: Dataset, videos: Iterable[VideoInfo], protocol: str, split: str) -> list[VideoInfo]:
    """The videos ``protocol``'s ``split`` uses, in the dataset's list order."""
    chosen = [v for v in videos if dataset.in_protocol(v, protocol, split)]
    return sorted(chosen, key=dataset.sort_key)


def counts_of(infos: Iterable[VideoInfo]) -> dict[str, Any]:
    """``{"lines": n, "live": .., "print": .., "replay": .., "attacks": {finer type: n}}``."""
    infos = list(infos)
    species = Counter(v.species for v in infos)
    attacks = Counter(v.attack for v in infos if v.attack)
    return {"lines": len(infos), **{s: species[s] for s in SPECIES}, "attacks": dict(sorted(attacks.items()))}


def split_counts(videos: Iterable[VideoInfo]) -> dict[str, dict[str, Any]]:
    """Counts of all videos by split (after any carved dev split) and species."""
    videos = list(videos)
    return {s: counts_of(v for v in videos if v.split == s) for s in SPLITS}


def write_list(path: str | Path, entries: Iterable[tuple[str, str]]) -> None:
    """Write ``(video_id, species)`` entries as list lines, atomically."""
    fileio.atomic_write_text(path, "".join(list_line(v, s) + "\n" for v, s in entries))


def write_protocol_lists(dataset: Dataset, videos: Iterable[VideoInfo], out_dir: str | Path,
                         protocols: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Write Train/Dev/Test lists of each protocol; returns the counts by list path (relative to ``out_dir``)."""
    videos = list(videos)
    out_dir = Path(out_dir)
    lists = {}
    for protocol in protocols:
        for split in SPLITS:
            path = dataset.list_path(out_dir, protocol, split)
            chosen = protocol_videos(dataset, videos, protocol, split)
            write_list(path, ((v.video_id, v.species) for v in chosen))
            lists[path.relative_to(out_dir).as_posix()] = counts_of(chosen)
    return lists


def read_list_species(path: str | Path) -> dict[str, str]:
    """Video id -> species from a list's labels (+1 live, -1 print, -2 replay); the error names file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"list file not found: {path}")
    out = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        label, sep, video = raw.strip().partition(",")
        if not raw.strip():
            continue
        try:
            species = SPECIES_OF_LABEL[int(label)]
        except (ValueError, KeyError):
            raise ValueError(f"{path}:{lineno}: label {label!r} is not +1 (live), -1 (print) or -2 (replay)") from None
        if not sep or not video.strip():
            raise ValueError(f"{path}:{lineno}: expected 'label,video', got {raw!r}")
        out[video.strip()] = species
    return out
