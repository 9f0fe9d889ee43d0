"""FAS-SGTD data: online face crops from frames, boxes and depth maps (docs/methods/fas_sgtd.md).

Shared by both stages: a single frame is a clip of length 1. A sample is read from the
preprocessing work tree (docs/data.md): ``<work>/frames/<video>/<video>_<NNN>_scene.jpg`` with its
``_scene.dat`` box and ``<work>/depth/<video>/<video>_<NNN>_depth1D.jpg`` (frame sized).

* Training crop: the box of the clip's first frame, each side widened by ``U(0.1, 0.4) / 2`` of
  the box size independently (not forced square), resized to the network input; the depth map
  is cropped with the same box and resized to the label size (input / 8).
* Test crop: the box scaled by 1.3 around its centre.
* Augmentation (training, each with p 0.5, one draw per clip): horizontal flip of image *and*
  depth label (the original forgets the label), ``clip(alpha * img + beta)`` with alpha
  U(0.5, 1.5) and beta randint(-40, 40), cutout of a square of side randint(1, 49) inside the crop
  (side scaled by input / 256 for smaller inputs).
* Labels: depth / 255 for live faces, zeros for attacks; the face mask is ``depth > 0`` for
  every video (the test score's mask).
* Video-balanced sampling: every epoch takes about 16 samples per live video and 4 per attack
  video, balancing OULU-NPU's 1:4 live:attack ratio (:func:`balanced_batches`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from fas_core import fileio
from fas_core.augment import cutout, hflip, linear_contrast, normalise
from fas_core.crop import TEST_CROP_SCALE, Box, crop_region, random_widen_fractions, scale_box, widen_box
from fas_core.method import depth_size_of
from fas_core.video_data import VideoEntry, WorkPaths, evenly_spaced, load_split

from .method import MEAN, STD


def load_entries(data_cfg: Mapping[str, Any], split: str) -> list[VideoEntry]:
    """Videos of a protocol split whose frames have a face box *and* a depth map.

    Frames lacking a depth map are dropped (and counted); a video left without frames is
    handled like a missing video (an error unless ``data.allow_missing``).
    """
    paths = WorkPaths.from_config(data_cfg)
    list_file = paths.list_file(str(data_cfg["protocol"]), split)
    if not list_file.is_file():
        raise FileNotFoundError(f"list file not found: {list_file} (run the preprocessing: bash scripts/preprocess.sh, "
                                f"or set data.work / data.lists)")
    entries = load_split(list_file, paths.frames, kind="frames", allow_missing=bool(data_cfg["allow_missing"]))
    kept, dropped_frames, empty = [], 0, []
    for e in entries:
        frames = [i for i in e.frames if fileio.find_depth_map(paths.depth, e.video, i) is not None]
        dropped_frames += len(e.frames) - len(frames)
        if frames:
            kept.append(VideoEntry(e.video, e.label, e.species, frames))
        else:
            empty.append(e.video)
    if dropped_frames:
        print(f"warning: {dropped_frames} frame(s) of {list_file} have a face box but no depth map under "
              f"{paths.depth}; skipped")
    if empty:
        msg = (f"{len(empty)} video(s) of {list_file} have no depth maps under {paths.depth}: "
               + ", ".join(empty[:10]) + (" ..." if len(empty) > 10 else ""))
        if not data_cfg["allow_missing"]:
            raise FileNotFoundError(msg + " (run data.make_depth, or set data.allow_missing=true to skip them)")
        print(f"warning: {msg}; skipped")
    if not kept:
        raise ValueError(f"no usable video in {list_file}")
    return kept


# --------------------------------------------------------------------------------- reading
def read_rgb(frames_root: Path, video: str, index: int) -> np.ndarray:
    return cv2.cvtColor(fileio.read_image(fileio.frame_path(frames_root, video, index)), cv2.COLOR_BGR2RGB)


def read_depth(depth_root: Path, video: str, index: int) -> np.ndarray:
    path = fileio.find_depth_map(depth_root, video, index)
    if path is None:
        raise FileNotFoundError(f"depth map not found: {fileio.depth_path(depth_root, video, index)}")
    return fileio.read_image(path, grey=True)


def crop_resize(image: np.ndarray, box: Box, size: int, interpolation: int) -> np.ndarray:
    return cv2.resize(crop_region(image, box), (size, size), interpolation=interpolation)


# ---------------------------------------------------------------------------- augmentation
@dataclass
class ClipAugment:
    """One draw of the training augmentations, applied to every frame of a clip."""

    flip: bool
    colour: tuple[float, float] | None  # (alpha, beta)
    cutout_seed: int | None

    @classmethod
    def draw(cls, rng: np.random.Generator, aug_cfg: Mapping[str, Any]) -> ClipAugment:
        flip = bool(rng.random() < float(aug_cfg["flip"]))
        colour = None
        if rng.random() < float(aug_cfg["colour"]):
            colour = (float(rng.uniform(0.5, 1.5)), float(rng.integers(-40, 41)))
        cut = int(rng.integers(0, 2**31)) if rng.random() < float(aug_cfg["cutout"]) else None
        return cls(flip, colour, cut)

    def apply(self, image: np.ndarray, depth: np.ndarray, aug_cfg: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        if self.flip:
            image, flipped = hflip(image, depth)
            if aug_cfg["flip_depth"]:  # false reproduces the original's unflipped label
                depth = flipped
        image = image.astype(np.float32)
        if self.colour is not None:
            image = linear_contrast(image, *self.colour)
        if self.cutout_seed is not None:
            side = max(1, int(round(int(aug_cfg["cutout_max_side"]) * image.shape[0] / 256)))
            image = cutout(image, np.random.default_rng(self.cutout_seed), max_side=side)
        return image, depth


# ---------------------------------------------------------------------------------- datasets
class ClipDataset(Dataset):
    """Clips (or single frames, ``length`` 1) of a split, cropped online.

    ``items``: ``(video index, [frame indices])``. ``__getitem__`` takes ``(index, seed)`` from
    the engine's sampler (training: random crop and augmentation from ``seed``) or a plain
    index (test crop, no augmentation). Returns a dict with ``image`` ``[T, 3, S, S]``,
    ``depth`` ``[T, 1, s, s]`` (label), ``mask`` ``[T, 1, s, s]``, ``label``, ``video``
    (index into ``entries``) and ``frame`` (first frame index).
    """

    def __init__(self, entries: list[VideoEntry], items: list[tuple[int, list[int]]], paths: WorkPaths,
                 input_size: int, train: bool, aug_cfg: Mapping[str, Any] | None = None,
                 widen: tuple[float, float] = (0.1, 0.4), test_scale: float = TEST_CROP_SCALE) -> None:
        self.entries, self.items, self.paths = entries, items, paths
        self.input_size, self.depth_size = input_size, depth_size_of(input_size)
        self.train, self.aug_cfg, self.widen, self.test_scale = train, aug_cfg, widen, test_scale

    def __len__(self) -> int:
        return len(self.items)

    def video_of(self, index: int) -> int:
        return self.items[index][0]

    def _box(self, video: str, first: int, rng: np.random.Generator | None) -> Box:
        box = fileio.read_bbox(fileio.bbox_path(self.paths.frames, video, first))
        if rng is None:
            return scale_box(box, self.test_scale)
        return widen_box(box, *random_widen_fractions(rng, *self.widen))

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        vi, frames = self.items[index]
        entry = self.entries[vi]
        rng = np.random.default_rng(seed) if self.train else None
        box = self._box(entry.video, frames[0], rng)  # one crop for the whole clip
        aug = ClipAugment.draw(rng, self.aug_cfg) if self.train else None
        images, depths, masks = [], [], []
        for f in frames:
            img = crop_resize(read_rgb(self.paths.frames, entry.video, f), box, self.input_size, cv2.INTER_LINEAR)
            dep = crop_resize(read_depth(self.paths.depth, entry.video, f), box, self.depth_size, cv2.INTER_AREA)
            if aug is not None:
                img, dep = aug.apply(img, dep, self.aug_cfg)
            dep = dep.astype(np.float32) / 255.0
            masks.append((dep > 0).astype(np.float32)[None])
            if len(masks) == 1:
                face_map = dep  # the first frame's depth map: the face mask of the score
            depths.append((dep if entry.label == 1 else np.zeros_like(dep))[None])
            images.append(normalise(img, MEAN, STD))
        return {
            "image": torch.from_numpy(np.stack(images)),
            "depth": torch.from_numpy(np.stack(depths)),
            "mask": torch.from_numpy(np.stack(masks)),
            "map": torch.from_numpy(face_map),
            "label": torch.tensor(entry.label, dtype=torch.long),
            "video": torch.tensor(vi, dtype=torch.long),
            "frame": torch.tensor(frames[0], dtype=torch.long),
        }


def train_items(entries: list[VideoEntry]) -> list[tuple[int, list[int]]]:
    """Every usable frame of every video, as one-frame items ``(video index, [frame])``."""
    return [(vi, [f]) for vi, e in enumerate(entries) for f in e.frames]


def test_items(entries: list[VideoEntry], per_video: int) -> list[tuple[int, list[int]]]:
    """``per_video`` evenly spaced frames of every video (0: all of them)."""
    return [(vi, [f]) for vi, e in enumerate(entries) for f in pick_evenly(e.frames, per_video)]


def pick_evenly(items: list, n: int) -> list:
    """``n`` evenly spaced items (all of them when ``n`` is 0 or there are fewer)."""
    return list(items) if n <= 0 else evenly_spaced(list(items), n)


def balanced_batches(items: Sequence[tuple[int, list[int]]], entries: Sequence[VideoEntry], per_live: int,
                     per_attack: int, batch_size: int, mode: str = "random"):
    """A ``batches_fn`` for the engine: per epoch about ``per_live`` samples of each live video
    and ``per_attack`` of each attack video, shuffled and cut into full batches.

    ``mode="random"`` draws new samples every epoch (a video with fewer candidates repeats some,
    each with its own augmentation); ``mode="even"`` takes the same evenly spaced ones every
    epoch, as the original's fixed list does (``stride_seq`` windows thinned to ``fix_len``).
    """
    if mode not in ("random", "even"):
        raise ValueError(f"data.train_sampling must be 'random' or 'even', got {mode!r}")
    by_video: dict[int, list[int]] = {}
    for i, (vi, _) in enumerate(items):
        by_video.setdefault(vi, []).append(i)

    def fn(rng: np.random.Generator) -> list[list[int]]:
        chosen: list[int] = []
        for vi, idx in by_video.items():
            k = per_live if entries[vi].label == 1 else per_attack
            if mode == "even":
                chosen += evenly_spaced(idx, k)
            elif len(idx) >= k:
                chosen += rng.choice(idx, size=k, replace=False).tolist()
            else:
                chosen += idx + rng.choice(idx, size=k - len(idx), replace=True).tolist()
        order = rng.permutation(len(chosen))
        chosen = [chosen[i] for i in order]
        n = len(chosen) // batch_size
        return [chosen[b * batch_size:(b + 1) * batch_size] for b in range(n)]

    return fn
