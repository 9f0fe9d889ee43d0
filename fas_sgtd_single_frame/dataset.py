"""FAS-SGTD data: online face crops from frames, boxes and depth maps (docs/methods/fas_sgtd.md, "Data and training").

Shared by both stages: a single frame is a clip of length 1. A sample is read from the
preprocessing work tree (docs/data.md): ``<work>/frames/<video>/<video>_<NNN>_scene.jpg`` with its
``_scene.dat`` box and ``<work>/depth/<video>/<video>_<NNN>_depth1D.jpg`` (frame sized).

* Training crop: the box of the clip's first frame, each side widened by ``U(0.1, 0.4) / 2`` of
  the box size independently (not forced square), resized to the network input; the depth map
  is cropped with the same box and resized to the label size (input / 8). The interpolations
  are ``data.resize_image`` / ``data.resize_depth`` (:data:`fas_core.crop.INTERPOLATIONS`).
* Test crop: the box scaled by 1.3 around its centre.
* Augmentation (training, each with p 0.5, one draw per clip): horizontal flip of image *and*
  depth label (the original forgets the label), ``clip(alpha * img + beta)`` with alpha
  U(0.5, 1.5) and beta randint(-40, 40), cutout of a square of side randint(1, 49) inside the crop.
  ``augment.on_crop``: on the full-resolution crop before the resize, as the original (the
  square is then 1-49 crop pixels), or after it (side scaled by input / 256).
* Labels: depth / 255 for live faces, zeros for attacks; the face mask is ``depth > 0`` for
  every video (the test score's mask).
* Video-balanced sampling (:func:`balanced_batches`): ``random`` takes about 16 samples per live
  video and 4 per attack video every epoch, balancing OULU-NPU's 1:4 live:attack ratio;
  ``windows`` is the original's fixed list (:func:`original_windows`), every item once per epoch.
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
from fas_core.crop import (
    TEST_CROP_SCALE,
    Box,
    crop_region,
    random_widen_fractions,
    resize_image,
    scale_box,
    widen_box,
)
from fas_core.method import depth_size_of
from fas_core.video_data import VideoEntry, WorkPaths, evenly_spaced, load_split

from .method import MEAN, STD

SAMPLING_MODES = ("random", "even", "windows")
TEST_SAMPLING = ("even", "windows")


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

    def apply(self, image: np.ndarray, depth: np.ndarray, aug_cfg: Mapping[str, Any],
              on_crop: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Flip, colour, cutout. ``on_crop``: ``image`` is the uint8 crop before the resize, as in the original.

        There the colour change is rounded and saturated to uint8 (the original's ``cv2.addWeighted``)
        and the cutout side is in crop pixels; after the resize it is scaled by input / 256.
        """
        if self.flip:
            image, flipped = hflip(image, depth)
            if aug_cfg["flip_depth"]:  # false reproduces the original's unflipped label
                depth = flipped
        image = image.astype(np.float32)
        if self.colour is not None:
            image = linear_contrast(image, *self.colour)
        if on_crop:
            image = np.rint(image).astype(np.uint8)
        if self.cutout_seed is not None:
            max_side = int(aug_cfg["cutout_max_side"])
            side = max_side if on_crop else max(1, int(round(max_side * image.shape[0] / 256)))
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
                 widen: tuple[float, float] = (0.1, 0.4), test_scale: float = TEST_CROP_SCALE,
                 resize: tuple[str, str] = ("linear", "area")) -> None:
        self.entries, self.items, self.paths = entries, items, paths
        self.input_size, self.depth_size = input_size, depth_size_of(input_size)
        self.train, self.aug_cfg, self.widen, self.test_scale = train, aug_cfg, widen, test_scale
        self.resize_image, self.resize_depth = resize  # interpolations of the face and of the depth crop

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
        on_crop = aug is not None and bool(self.aug_cfg["on_crop"])
        images, depths, masks = [], [], []
        for f in frames:
            img = crop_region(read_rgb(self.paths.frames, entry.video, f), box)
            dep = crop_region(read_depth(self.paths.depth, entry.video, f), box)
            if on_crop:
                img, dep = aug.apply(img, dep, self.aug_cfg, on_crop=True)
            img = resize_image(img, (self.input_size, self.input_size), self.resize_image)
            dep = resize_image(dep, (self.depth_size, self.depth_size), self.resize_depth)
            if aug is not None and not on_crop:
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


def test_items(entries: list[VideoEntry], per_video: int, mode: str = "even") -> list[tuple[int, list[int]]]:
    """``per_video`` frames of every video (0: all of them), picked by :func:`pick_for_test`."""
    return [(vi, [f]) for vi, e in enumerate(entries) for f in pick_for_test(e.frames, per_video, mode)]


def original_windows(frames: Sequence[int], length: int, interval: int, stride: int, cap: int) -> list[list[int]]:
    """The original's training windows of one video: ``[s, s + k, ..., s + (T-1) k]`` for ``s = 1, 1 + stride, ...``.

    A window is kept when all its frames are usable; when more than ``cap`` are kept, every
    ``len // cap``-th of them (its ``get_res_list``: between ``cap`` and ``2 cap - 1`` remain). The
    original strides are 10 frames for live and 80 for attack videos with caps 16 and 4 in the
    multi-frame stage (14 and 2 windows of 5 frames 3 apart on a 150-frame video), 1 and 1 in the
    single-frame stage (17 and 5 frames).
    """
    if not frames:
        return []
    have, span = set(frames), (length - 1) * interval
    windows = [[s + j * interval for j in range(length)] for s in range(1, max(frames) - span + 1, stride)
               if all(s + j * interval in have for j in range(length))]
    return windows[::max(len(windows) // cap, 1)]


def window_items(entries: Sequence[VideoEntry], length: int, interval: int, strides: tuple[int, int],
                 caps: tuple[int, int]) -> list[tuple[int, list[int]]]:
    """The original's fixed training list: :func:`original_windows` of every video (``(live, attack)`` pairs)."""
    items = []
    for vi, e in enumerate(entries):
        k = 0 if e.label == 1 else 1
        items += [(vi, w) for w in original_windows(e.frames, length, interval, strides[k], caps[k])]
    return items


def pick_for_test(items: list, n: int, mode: str = "even") -> list:
    """Scoring samples of a video: ``even`` spreads ``n`` over it (:func:`pick_evenly`); ``windows`` takes every
    ``(len // n)``-th from the first, as the original test lists (``n`` to ``2n - 1`` of them); 0: all."""
    if mode not in TEST_SAMPLING:
        raise ValueError(f"data.test_sampling must be one of {', '.join(TEST_SAMPLING)}, got {mode!r}")
    if mode == "windows" and n > 0:
        return list(items)[::max(len(items) // n, 1)]
    return pick_evenly(items, n)


def pick_evenly(items: list, n: int) -> list:
    """``n`` evenly spaced items (all of them when ``n`` is 0 or there are fewer)."""
    return list(items) if n <= 0 else evenly_spaced(list(items), n)


def balanced_batches(items: Sequence[tuple[int, list[int]]], entries: Sequence[VideoEntry], per_live: int,
                     per_attack: int, batch_size: int, mode: str = "random"):
    """A ``batches_fn`` for the engine: per epoch about ``per_live`` samples of each live video
    and ``per_attack`` of each attack video, shuffled and cut into full batches.

    ``mode="random"`` draws new samples every epoch (a video with fewer candidates repeats some,
    each with its own augmentation); ``mode="even"`` takes the same evenly spaced ones every
    epoch; ``mode="windows"``: ``items`` is the original's fixed list (:func:`window_items`), every
    item once per epoch, shuffled, the last partial batch dropped (as its input pipeline does).
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"data.train_sampling must be one of {', '.join(SAMPLING_MODES)}, got {mode!r}")
    if mode == "windows":
        return lambda rng: cut_batches(rng.permutation(len(items)).tolist(), batch_size)
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
        return cut_batches([chosen[i] for i in order], batch_size)

    return fn


def cut_batches(order: list[int], batch_size: int) -> list[list[int]]:
    """``order`` cut into full batches (a last partial batch is dropped)."""
    return [order[b * batch_size:(b + 1) * batch_size] for b in range(len(order) // batch_size)]
