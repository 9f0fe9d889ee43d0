"""Which videos and frames a split uses: protocol lists joined with what is on disk.

Shared by every loader. A :class:`VideoEntry` knows its label (1 live, 0 attack), its attack
species (from the OULU file code, from the list's label for the other datasets, or given for
generated data) and the 1-based indices of the frames that are usable (a face box, or a
crop-cache entry, exists). ``data.dataset`` says whose lists a config reads and where they lie
(:mod:`fas_core.datasets.listing`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import fileio
from .config import Typed
from .datasets.listing import LIST_DATASETS, check_dataset, list_path, parse_listed
from .datasets.lists import read_list_species
from .errors import UserError
from .oulu import ListFileError, read_list
from .scores import resolve_species

# The data keys with which every method's config chooses its dataset (docs/datasets.md, "Training on any dataset").
DATASET_KEYS: dict[str, Any] = {
    # whose lists data.lists holds, and so which protocols data.protocol names: oulu (1, 2, 3_k, 4_k),
    # replay_attack, casia_fasd, msu_mfsd, siw, replay_mobile, or mcio (the cross-domain tasks: OCI_to_M, OMI_to_C,
    # OCM_to_I, ICM_to_O; ids O/..., C/..., a work tree with a folder per domain)
    "dataset": Typed(str, "oulu", choices=LIST_DATASETS),
    # true: every training batch holds as many samples of each domain (mcio: each source dataset) as it can;
    # false: the method's own batches (the originals mix the sources at random)
    "domain_balance": False,
}


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
    ``lists/``. ``dataset`` (``data.dataset``) says whose lists they are. Every method resolves
    its paths here.
    """

    work: Path
    frames: Path
    depth: Path
    crops: Path
    lists: Path
    dataset: str = "oulu"

    @classmethod
    def from_config(cls, data: Mapping[str, Any], crops_default: str = "crops") -> WorkPaths:
        work = Path(data["work"])

        def pick(key: str, default: str) -> Path:
            return Path(data.get(key) or work / default)

        try:
            dataset = check_dataset(str(data.get("dataset") or "oulu"))
        except ValueError as e:
            raise UserError(str(e)) from None
        return cls(work, pick("frames", "frames"), pick("depth", "depth"), pick("crops", crops_default),
                   pick("lists", "lists"), dataset)

    def list_file(self, protocol: str, split: str) -> Path:
        """The list of a protocol split: ``<lists>/Protocol_<p>/{Train,Dev,Test}[_k].txt`` for OULU-NPU,
        ``<lists>/<protocol>/...`` for the other datasets and the cross-domain tasks."""
        try:
            return list_path(self.dataset, self.lists, str(protocol), split)
        except ValueError as e:
            raise UserError(f"data.protocol ({self.dataset}): {e}") from None

    def load(self, protocol: str, split: str, root: str | Path, kind: str = "crops", allow_missing: bool = False,
             list_file: str | Path | None = None) -> list[VideoEntry]:
        """:func:`load_split` of a protocol split's list (or ``list_file``), checked against ``data.dataset``.

        Species come from the list's labels where the names do not give them (every dataset but
        OULU-NPU). A list that names a video of another dataset is an error naming both.
        """
        path = Path(list_file) if list_file else self.list_file(protocol, split)
        if not path.is_file():
            raise FileNotFoundError(f"list file not found: {path} (data.dataset={self.dataset}, data.protocol="
                                    f"{protocol}; make the lists with python -m data.make_lists, or set data.lists)")
        return load_listed_split(self.dataset, path, root, kind, allow_missing)


def load_listed_split(dataset: str, list_file: str | Path, root: str | Path, kind: str = "crops",
                      allow_missing: bool = False) -> list[VideoEntry]:
    """:func:`load_split` of a list of ``dataset``'s videos (checked), species from the labels where names lack them."""
    check_list_dataset(dataset, list_file)
    species = None if dataset == "oulu" else read_list_species(list_file)
    return load_split(list_file, root, kind=kind, allow_missing=allow_missing, species_map=species)


class DatasetMismatchError(UserError):
    """A list names videos of another dataset than ``data.dataset``."""


def check_list_dataset(dataset: str, list_file: str | Path) -> None:
    """Every video of ``list_file`` must be one of ``dataset``'s; the error names the first that is not."""
    for lineno, (video, _) in enumerate(read_list(list_file, zero_is_attack=True), start=1):
        try:
            parse_listed(dataset, video)
        except ValueError as e:
            raise DatasetMismatchError(f"data.dataset is '{dataset}' but {list_file} (video {lineno}) names "
                                       f"'{video}', not one of its videos ({e}): set data.dataset to the lists' "
                                       "dataset, or data.lists to this dataset's lists") from None


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
