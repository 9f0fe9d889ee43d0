"""Training and scoring data of CDCN / CDCN++ / CDCN_u (docs/methods/dum.md; docs/data.md, stage 4).

Two sources of face crops, both giving a BGR face of the configured input size ``S`` and a
depth crop of ``S / 8``:

* :class:`CropCache` - the offline crop cache ``<crops>/<video>/<video>_<NNN>_scene.jpg`` (256x256
  at scale 1.3) and ``..._depth1D.png`` (32x32), resized to ``S`` and ``S / 8``. With
  ``data.cache_train_scales`` the training split reads a cache whose frames were cut at one
  scale each, drawn from those scales when the cache was made (the original DUM's offline crop);
* :class:`OnlineCrop` - frames + ``.dat`` boxes + frame-sized ``depth1D.jpg`` maps, cropped on
  the fly; training draws the scale from ``data.train_scales`` per sample as the original CDCN.

Training samples (:class:`DepthTrainSet`) are one random frame of one video with the spec's
augmentations (brightness/gamma, random erasing, flip of image and depth together, cutout,
normalisation). Depth labels are zero for attacks. A live frame without a depth map never
becomes an all-zero label: it is skipped and counted when the set is built (or an error with
``missing_depth: error``).

Indices ``0 .. n_real-1`` are real videos, ``n_real ..`` generated (DSDG) videos;
:func:`mixed_batches` builds epochs of batches that mix the two with ratio ``r``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from fas_core import augment, fileio
from fas_core.crop import RESIZE_MODES, TEST_CROP_SCALE, crop_face_and_depth
from fas_core.crop_cache import CropCacheSpec, entry_paths, read_entry
from fas_core.method import depth_size_of
from fas_core.oulu import read_list
from fas_core.video_data import VideoEntry, WorkPaths, evenly_spaced, frames_with_box, load_split

from .method import MEAN, STD

log = logging.getLogger("fas")

CACHE_SIZE = 256  # the reference size the augmentation constants are given for




class CropCache:
    """The offline crop cache (``data.crop``; its contract: :mod:`fas_core.crop_cache`).

    An entry's crop scale was fixed when the cache was cut, so :meth:`load` takes none.
    """

    kind = "crops"
    online = False

    def __init__(self, root: str | Path, resize: str = "linear") -> None:
        if resize not in RESIZE_MODES:
            raise ValueError(f"data.resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")
        self.root = Path(root)
        self.resize = resize
        self.spec = CropCacheSpec(resize=resize)

    def image_path(self, video: str, index: int) -> Path:
        return entry_paths(self.root, video, index)[0]

    def depth_path(self, video: str, index: int) -> Path:
        return entry_paths(self.root, video, index)[1]

    def depth_names(self, video: str) -> set[str]:
        folder = self.root / video
        return set(os.listdir(folder)) if folder.is_dir() else set()

    def load(self, video: str, index: int, scale: float | None, size: int, depth_size: int,
             with_depth: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """``(face BGR uint8 [size, size, 3], depth uint8 [depth_size, depth_size] or None)``; no ``scale``."""
        if scale is not None:
            raise ValueError(f"{self.root}: a crop-cache entry is read at the scale it was cut at, not {scale}")
        depth = self.depth_path(video, index) if with_depth else None
        return read_entry(self.image_path(video, index), depth, size, depth_size, self.spec)


class OnlineCrop:
    """Frames + ``.dat`` boxes + frame-sized ``depth1D.jpg`` maps, cropped per sample."""

    kind = "frames"
    online = True

    def __init__(self, frames_root: str | Path, depth_root: str | Path) -> None:
        self.root = Path(frames_root)
        self.depth_root = Path(depth_root)

    def depth_path(self, video: str, index: int) -> Path:
        return fileio.depth_path(self.depth_root, video, index)

    def depth_names(self, video: str) -> set[str]:
        folder = self.depth_root / video
        return set(os.listdir(folder)) if folder.is_dir() else set()

    def load(self, video: str, index: int, scale: float | None, size: int, depth_size: int,
             with_depth: bool) -> tuple[np.ndarray, np.ndarray | None]:
        frame = fileio.read_image(fileio.frame_path(self.root, video, index))
        box = fileio.read_bbox(fileio.bbox_path(self.root, video, index))
        depth = fileio.read_image(self.depth_path(video, index), grey=True) if with_depth else None
        return crop_face_and_depth(frame, depth, box, scale=TEST_CROP_SCALE if scale is None else scale,
                                   image_size=size, depth_size=depth_size)


Source = CropCache | OnlineCrop


@dataclass
class VideoItem:
    """One video of a training or scoring set."""

    entry: VideoEntry  # frames: the usable ones (live training frames: only those with depth)
    source: Source
    generated: bool = False
    depth_frames: set[int] = field(default_factory=set)  # frames with a depth map (face mask at test)


@dataclass
class DepthSkips:
    """Live frames dropped from training because their depth map is missing."""

    frames: int = 0
    videos: list[str] = field(default_factory=list)  # live videos left with no usable frame

    def describe(self, what: str) -> str:
        text = f"{what}: {self.frames} live frame(s) without a depth map skipped"
        if self.videos:
            text += f"; {len(self.videos)} live video(s) dropped (no depth at all): " + ", ".join(self.videos[:10])
        return text


def frames_with_depth(source: Source, entry: VideoEntry) -> set[int]:
    names = source.depth_names(entry.video)
    return {i for i in entry.frames if source.depth_path(entry.video, i).name in names}


def make_items(entries: Sequence[VideoEntry], source: Source, generated: bool, training: bool,
               missing_depth: str, what: str) -> tuple[list[VideoItem], DepthSkips]:
    """Attach depth availability; for training, drop live frames without depth (``skip``) or raise (``error``)."""
    if missing_depth not in ("skip", "error"):
        raise ValueError(f"data.missing_depth must be 'skip' or 'error', got {missing_depth!r}")
    items, skips = [], DepthSkips()
    for e in entries:
        have = frames_with_depth(source, e)
        if training and e.label == 1:
            lacking = [i for i in e.frames if i not in have]
            if lacking and missing_depth == "error":
                path = source.depth_path(e.video, lacking[0])
                raise FileNotFoundError(f"{what}: live video {e.video} has {len(lacking)} frame(s) without a depth "
                                        f"map (first: {path}); set data.missing_depth=skip to train without them")
            skips.frames += len(lacking)
            frames = [i for i in e.frames if i in have]
            if not frames:
                skips.videos.append(e.video)
                continue
            e = VideoEntry(e.video, e.label, e.species, frames)
        items.append(VideoItem(e, source, generated, have))
    return items, skips


# ------------------------------------------------------------------------------ augmentation
@dataclass
class AugmentConfig:
    """docs/methods/dum.md "Augmentations"; sizes are given for 256x256 crops and scaled with the input."""

    enabled: bool = True
    brightness: float = 40.0
    gamma: tuple[float, float] = (0.5, 1.5)
    erasing: float = 0.5
    flip: float = 0.5
    cutout_max_side: int = 49
    gamma_per_channel: bool = True  # False: one gamma per image, as the original
    erasing_fill: str = "mean"  # "zero": the original's (truncated) fill

    @classmethod
    def from_cfg(cls, cfg: Any) -> AugmentConfig:
        """From a config's ``augment`` section."""
        return cls(bool(cfg.enabled), float(cfg.brightness), tuple(cfg.gamma), float(cfg.erasing),
                   float(cfg.flip), int(cfg.cutout_max_side), bool(cfg.gamma_per_channel), str(cfg.erasing_fill))


def augment_sample(face: np.ndarray, depth: np.ndarray, rng: np.random.Generator,
                   aug: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Brightness/gamma -> random erasing -> flip (face and depth together) -> cutout; BGR float32 out.

    The order is the original's (its cutout runs after ToTensor, i.e. on 0-255 values before
    the normalisation). Random erasing fills with the image mean, or zeros as the original
    (``augment.erasing_fill``, fas_core.augment).
    """
    img = face.astype(np.float32)
    if not aug.enabled:
        return img, depth
    img = augment.brightness_contrast(img, rng, aug.brightness, aug.gamma, gamma_per_channel=aug.gamma_per_channel)
    img = augment.random_erasing(img, rng, p=aug.erasing, fill=aug.erasing_fill)
    if rng.random() < aug.flip:
        img, depth = augment.hflip(img, depth)
    side = max(1, round(aug.cutout_max_side * img.shape[0] / CACHE_SIZE))
    img = augment.cutout(img, rng, max_side=side)
    return img, depth


def to_tensors(face_bgr: np.ndarray, depth: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """BGR -> RGB, ``(x - 127.5) / 128`` CHW; depth ``/ 255``."""
    image = torch.from_numpy(augment.normalise(np.ascontiguousarray(face_bgr[:, :, ::-1]), MEAN, STD))
    if depth is None:
        return image, None
    return image, torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32) / 255.0)


# ------------------------------------------------------------------------------ training set
class DepthTrainSet(Dataset):
    """One augmented random frame per item; items are videos (real first, then generated).

    ``__getitem__((index, seed))``: the seed (from the engine's sampler) fixes the frame, the
    crop scale and every augmentation, so a resumed run sees exactly the same samples.
    """

    def __init__(self, real: Sequence[VideoItem], generated: Sequence[VideoItem], input_size: int,
                 aug: AugmentConfig, train_scales: Sequence[float] = (1.2, 1.3, 1.4)) -> None:
        self.items = list(real) + list(generated)
        self.n_real, self.n_generated = len(real), len(generated)
        self.size, self.depth_size = input_size, depth_size_of(input_size)
        self.aug, self.scales = aug, tuple(float(s) for s in train_scales)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: tuple[int, int] | int) -> dict[str, Any]:
        index, seed = item if isinstance(item, (tuple, list)) else (item, item)
        rng = np.random.default_rng(seed)
        it = self.items[index]
        frame = int(rng.choice(it.entry.frames))
        # Drawn for every sample, so that the augmentation's draws after it do not depend on the source.
        scale = float(rng.choice(self.scales))
        live = it.entry.label == 1
        face, depth = it.source.load(it.entry.video, frame, scale if it.source.online else None, self.size,
                                     self.depth_size, with_depth=live)
        if depth is None:  # attacks: an all-zero label (docs/methods/dum.md)
            depth = np.zeros((self.depth_size, self.depth_size), np.uint8)
        img, depth = augment_sample(face, depth, rng, self.aug)
        image, label = to_tensors(img, depth)
        return {"image": image, "depth": label, "label": torch.tensor(int(live)),
                "generated": torch.tensor(it.generated)}


def mixed_batches(n_real: int, n_generated: int, batch_size: int,
                  ratio: float) -> Callable[[np.random.Generator], list[list[int]]]:
    """Epoch batches: ``floor(ratio * B)`` real and ``B - that`` generated indices each (docs/methods/dum.md).

    Real videos are shuffled once per epoch and taken in order (wrapping around); generated
    ones are drawn at random without replacement within a batch, as the original sampler.
    An epoch has ``max(n_real, n_generated) // n_real_per_batch`` batches (25 for OULU P1 with
    48 real per batch). With no generated data every batch is real.
    """
    n_real_b = int(np.floor(ratio * batch_size)) if n_generated else batch_size
    n_gen_b = batch_size - n_real_b
    if n_generated and (n_real_b < 1 or n_gen_b < 1):
        raise ValueError(f"batch size {batch_size} with ratio {ratio} leaves {n_real_b} real and {n_gen_b} "
                         f"generated samples per batch: both must be at least 1")

    def batches(rng: np.random.Generator) -> list[list[int]]:
        order = rng.permutation(n_real).tolist()
        if not n_gen_b:
            n = n_real // batch_size
            return [order[i * batch_size:(i + 1) * batch_size] for i in range(n)]
        n = max(n_real, n_generated) // n_real_b if n_real >= n_real_b else 0
        out = []
        for i in range(n):
            real = [order[(i * n_real_b + j) % n_real] for j in range(n_real_b)]
            gen = (n_real + rng.choice(n_generated, n_gen_b, replace=n_gen_b > n_generated)).tolist()
            out.append(real + gen)
        return out

    return batches


# ------------------------------------------------------------------------------ scoring set
class FrameScoringSet(Dataset):
    """Every sampled frame of every video of a split, unaugmented, with its depth map as face mask.

    Items: ``{"image", "map", "has_map", "video", "frame"}``; ``map`` is the depth crop ``/ 255``
    (zeros and ``has_map`` false when the frame has none).
    """

    def __init__(self, items: Sequence[VideoItem], input_size: int, frames_per_video: int = 0,
                 scale: float = TEST_CROP_SCALE) -> None:
        self.items = list(items)
        self.size, self.depth_size, self.scale = input_size, depth_size_of(input_size), scale
        self.refs: list[tuple[int, int]] = []
        for v, it in enumerate(self.items):
            frames = it.entry.frames if frames_per_video <= 0 else evenly_spaced(it.entry.frames, frames_per_video)
            self.refs += [(v, f) for f in frames]

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        v, frame = self.refs[i]
        it = self.items[v]
        has = frame in it.depth_frames
        scale = self.scale if it.source.online else None
        face, depth = it.source.load(it.entry.video, frame, scale, self.size, self.depth_size, with_depth=has)
        image, dmap = to_tensors(face.astype(np.float32), depth)
        if dmap is None:
            dmap = torch.zeros(self.depth_size, self.depth_size)
        return {"image": image, "map": dmap, "has_map": torch.tensor(has), "video": v, "frame": frame}


# ------------------------------------------------------------------------------ building
@dataclass
class DataPaths:
    """Where a config's data lives (:class:`fas_core.video_data.WorkPaths`) and how it is read."""

    source: str  # crops: the offline crop cache | online: frames + boxes + depth maps
    work: WorkPaths
    protocol: str
    generated_list: Path | None
    generated_crops: Path | None
    resize: str = "linear"
    cache_train_scales: tuple[float, ...] = ()  # the train split's cache: one of these scales per frame

    @classmethod
    def from_cfg(cls, d: Any) -> DataPaths:
        gen_list = Path(d.generated_list) if d.generated_list else None
        gen_crops = Path(d.generated_crops) if d.generated_crops else None
        if gen_list is not None and gen_crops is None:
            gen_crops = gen_list.parent / "crops"
        return cls(str(d.source), WorkPaths.from_config(d), str(d.protocol), gen_list, gen_crops, str(d.resize),
                   tuple(float(s) for s in d.cache_train_scales))

    def list_file(self, split: str) -> Path:
        return self.work.list_file(self.protocol, split)

    def crops_of(self, split: str) -> Path:
        """The crop cache a split reads: the per-frame-scale one for training when it is set, else ``<crops>``."""
        if split == "train" and self.cache_train_scales:
            return train_cache_path(self.work.crops, self.cache_train_scales)
        return self.work.crops

    def real_source(self, split: str = "test") -> Source:
        if self.source == "crops":
            return CropCache(self.crops_of(split), self.resize)
        return OnlineCrop(self.work.frames, self.work.depth)


def train_cache_path(crops: Path, scales: Sequence[float]) -> Path:
    """``<crops>_s1.2-1.3-1.4``: beside the test cache, named after the scales its frames were cut at."""
    return crops.with_name(f"{crops.name}_s" + "-".join(f"{s:g}" for s in scales))


def first_unfinished(cache: Path, list_file: Path, frames_root: Path) -> Path:
    """The ``.done`` marker of the first video of ``list_file`` (with boxed frames) that ``cache`` lacks.

    When none is missing, the cache's own folder (which exists); before the list exists, the
    cache's ``summary.json`` (written by its first run).
    """
    if not list_file.is_file():
        return cache / "summary.json"
    for video, _ in read_list(list_file):
        if not fileio.is_done(cache / video) and frames_with_box(frames_root, video):
            return cache / video / fileio.DONE_MARKER
    return cache


def split_items(paths: DataPaths, split: str, training: bool, allow_missing: bool,
                missing_depth: str) -> tuple[list[VideoItem], DepthSkips]:
    """The videos of a protocol split (``train`` | ``dev`` | ``test``) as :class:`VideoItem` s."""
    source = paths.real_source(split)
    root = paths.crops_of(split) if source.kind == "crops" else paths.work.frames
    entries = load_split(paths.list_file(split), root, kind=source.kind, allow_missing=allow_missing)
    return make_items(entries, source, generated=False, training=training, missing_depth=missing_depth,
                      what=f"{split} split")


def generated_items(paths: DataPaths, allow_missing: bool, missing_depth: str) -> tuple[list[VideoItem], DepthSkips]:
    """DSDG-generated videos (``1,<video>`` / ``0,<video>`` lines) in crop-cache layout; none without a list."""
    if paths.generated_list is None:
        return [], DepthSkips()
    entries = load_split(paths.generated_list, paths.generated_crops, kind="crops", allow_missing=allow_missing)
    return make_items(entries, CropCache(paths.generated_crops, paths.resize), generated=True, training=True,
                      missing_depth=missing_depth, what=f"generated data {paths.generated_list}")


def build_train_set(cfg: Any) -> DepthTrainSet:
    """The training set of a config (real protocol split + optional generated data)."""
    d = cfg.data
    paths = DataPaths.from_cfg(d)
    real, skips = split_items(paths, "train", True, bool(d.allow_missing), str(d.missing_depth))
    gen, gen_skips = generated_items(paths, bool(d.allow_missing), str(d.missing_depth))
    for s, what in ((skips, "train split"), (gen_skips, "generated data")):
        if s.frames:
            log.warning("[dum] " + s.describe(what))
    if not real:
        raise ValueError(f"no usable training video in {paths.list_file('train')}")
    ds = DepthTrainSet(real, gen, int(d.input_size), AugmentConfig.from_cfg(cfg.augment), d.train_scales)
    log.info(f"[dum] training set: {ds.n_real} real videos ({sum(it.entry.label for it in real)} live), "
             f"{ds.n_generated} generated, input {ds.size}x{ds.size}, depth {ds.depth_size}x{ds.depth_size}")
    return ds
