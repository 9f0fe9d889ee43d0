"""(spoof, live) training pairs for DSDG (docs/methods/dsdg.md, Training).

Each spoof frame of the training list is one sample; it is paired with a live frame of the same
subject (OULU user), taken at random from any phone and session, and labelled with its spoof
type (OULU file codes 2, 3, 4, 5 -> classes 0..3). The partner is drawn from the per-sample seed
that the engine's sampler passes with the index, so a run is reproducible and resumable.
Other datasets (``data.dataset``): subjects and attack types come from the dataset's naming
(:func:`fas_core.datasets.listing.parse_listed`; a cross-domain subject keeps its domain), the
classes being the list's attack types in sorted order.

Faces are the DSDG crop: the detector box at scale 1.0, resized to 256x256, RGB in [0, 1], no
augmentation. Two sources give the same images:

* ``crops`` (default): an offline crop cache made at scale 1.0, e.g.
  ``python -m data.crop --frames <work>/frames --depth <work>/depth --out <work>/crops_s1.0 --scale 1.0``;
* ``frames``: crop online from ``<work>/frames`` (frame + ``.dat`` box).

Like the original list, at most ``frames_per_video`` frames (evenly spaced) of each video are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from fas_core import fileio
from fas_core.crop import crop_face, scale_box
from fas_core.datasets.listing import MCIO, domain_of, parse_listed
from fas_core.video_data import VideoEntry, evenly_spaced, load_listed_split

from .model import IMAGE_SIZE  # fixed by the decoder

OULU_SPOOF_TYPES = ("printer1", "printer2", "display1", "display2")  # file codes 2, 3, 4, 5 -> classes 0..3


@dataclass(frozen=True)
class FrameRef:
    video: str
    index: int  # 1-based frame number


def subject_of(video: str, dataset: str = "oulu") -> str:
    """The subject of a video (the OULU user); the error names the video when it is not one of ``dataset``'s."""
    try:
        return parse_listed(dataset, video).subject
    except ValueError as e:
        raise ValueError(f"cannot pair '{video}' with a live video of its subject: {e}") from e


def spoof_name(video: str, dataset: str = "oulu") -> str:
    """The attack type of an attack video (a cross-domain one keeps its domain: ``O/printer1``)."""
    info = parse_listed(dataset, video)
    if info.species == "live":
        raise ValueError(f"'{video}' is a live video, not an attack")
    return f"{domain_of(dataset, video)}/{info.attack}" if dataset == MCIO else info.attack


def spoof_types(dataset: str, videos: Sequence[str]) -> tuple[str, ...]:
    """The spoof-type classes: OULU's four instruments in file-code order, else the videos' attack types sorted."""
    if dataset == "oulu":
        return OULU_SPOOF_TYPES
    return tuple(sorted({spoof_name(v, dataset) for v in videos}))


def spoof_type_of(video: str, dataset: str = "oulu", types: Sequence[str] = OULU_SPOOF_TYPES) -> int:
    """Spoof-type class of an attack video (OULU file code 2..5 -> 0..3)."""
    return list(types).index(spoof_name(video, dataset))


def to_tensor(image_bgr: np.ndarray, size: int = IMAGE_SIZE) -> torch.Tensor:
    """BGR uint8 -> RGB float ``[3, size, size]`` in [0, 1] (bilinear resize when needed)."""
    if image_bgr.shape[0] != size or image_bgr.shape[1] != size:
        image_bgr = cv2.resize(image_bgr, (size, size), interpolation=cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div_(255.0)


class FaceReader:
    """Reads one face crop: from the crop cache, or cropped online from a frame and its box."""

    def __init__(self, source: str, root: str | Path, scale: float = 1.0, size: int = IMAGE_SIZE) -> None:
        if source not in ("crops", "frames"):
            raise ValueError(f"data.source must be 'crops' or 'frames', got {source!r}")
        self.source, self.root, self.scale, self.size = source, Path(root), float(scale), int(size)

    def __call__(self, ref: FrameRef) -> torch.Tensor:
        if self.source == "crops":
            image = fileio.read_image(fileio.frame_path(self.root, ref.video, ref.index))
        else:
            frame = fileio.read_image(fileio.frame_path(self.root, ref.video, ref.index))
            box = fileio.read_bbox(fileio.bbox_path(self.root, ref.video, ref.index))
            image = crop_face(frame, box, self.scale)
        return to_tensor(image, self.size)


class PairDataset(Dataset):
    """Spoof frames of a list, each paired at random with a live frame of the same subject.

    ``__getitem__((index, seed))`` returns ``{"spoof": [3,S,S], "live": [3,S,S], "type": int}``;
    a plain ``index`` uses seed ``index`` (fixed pairs, for evaluation).
    """

    def __init__(self, list_path: str | Path, root: str | Path, source: str = "crops", scale: float = 1.0,
                 size: int = IMAGE_SIZE, frames_per_video: int = 40, allow_missing: bool = False,
                 dataset: str = "oulu") -> None:
        kind = "crops" if source == "crops" else "frames"
        self.list_path = Path(list_path)
        self.dataset = dataset
        self.reader = FaceReader(source, root, scale, size)
        entries = load_listed_split(dataset, list_path, root, kind=kind, allow_missing=allow_missing)
        self.type_names = spoof_types(dataset, [e.video for e in entries if e.label != 1])
        self.spoofs, self.types, self.live_pool, self.dropped = self._index(entries, frames_per_video)
        if not self.spoofs:
            raise ValueError(f"{list_path}: no spoof frame has a live video of the same subject under {root} "
                             f"(subjects need both live and attack videos)")
        if self.dropped:
            print(f"warning: {len(self.dropped)} attack video(s) of {list_path} have no live video of their "
                  f"subject and are not used: " + ", ".join(self.dropped[:10]) + (" ..." if len(self.dropped) > 10
                                                                                 else ""))

    def _index(self, entries: Sequence[VideoEntry], per_video: int
               ) -> tuple[list[FrameRef], list[int], dict[str, list[FrameRef]], list[str]]:
        live_pool: dict[str, list[FrameRef]] = {}
        for e in entries:
            if e.label == 1:
                live_pool.setdefault(subject_of(e.video, self.dataset), []).extend(
                    FrameRef(e.video, i) for i in evenly_spaced(e.frames, per_video))
        spoofs, types, dropped = [], [], []
        for e in entries:
            if e.label == 1:
                continue
            if subject_of(e.video, self.dataset) not in live_pool:
                dropped.append(e.video)
                continue
            t = spoof_type_of(e.video, self.dataset, self.type_names)
            for i in evenly_spaced(e.frames, per_video):
                spoofs.append(FrameRef(e.video, i))
                types.append(t)
        return spoofs, types, live_pool, dropped

    def __len__(self) -> int:
        return len(self.spoofs)

    def partner(self, index: int, seed: int) -> FrameRef:
        """The live frame paired with spoof sample ``index`` under ``seed`` (a function of both)."""
        pool = self.live_pool[subject_of(self.spoofs[index].video, self.dataset)]
        return pool[int(np.random.default_rng([int(seed), int(index)]).integers(len(pool)))]

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        index, seed = (item, item) if isinstance(item, (int, np.integer)) else item
        spoof = self.spoofs[index]
        live = self.partner(index, seed)
        return {"spoof": self.reader(spoof), "live": self.reader(live),
                "type": torch.tensor(self.types[index], dtype=torch.long)}

    def subjects(self) -> list[str]:
        return sorted({subject_of(r.video, self.dataset) for r in self.spoofs})

    def eval_indices(self, n: int) -> list[int]:
        """``n`` sample indices spread over the whole set (fixed, for held-out reconstruction error)."""
        return evenly_spaced(list(range(len(self))), n)


def mean_face_geometry(frames_root: str | Path, videos: Sequence[str], scale: float = 1.0,
                       max_videos: int = 50) -> list[list[float]] | None:
    """Mean landmark positions inside the scale-``scale`` crop, as fractions of the crop side.

    Read from the detector's ``faces.json`` index of (at most ``max_videos``) ``videos``; None when
    none has one (e.g. folders prepared by other tools). The generator's outputs are such crops,
    so this is where their landmarks sit on average.
    """
    from fas_core.face_detector import faces_index_path, read_faces_index

    points = []
    for video in list(videos)[:max_videos]:
        path = faces_index_path(frames_root, video)
        if not path.is_file():
            continue
        for face in read_faces_index(path).faces.values():
            if face is None:
                continue
            x, y, w, h = scale_box(face.box, scale)
            points.append((np.asarray(face.landmarks) - [x, y]) / [w, h])
    if not points:
        return None
    return np.round(np.mean(points, axis=0), 4).tolist()
